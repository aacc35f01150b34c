"""The reference JSON-RPC captures of Kamailio 5.6.3 (``../shared/reference/kamailio-5.6/rpc``).

The reference folder sits beside the repository clone (``/work/shared`` next to
``/work/main``, and likewise in CI); ``KAMTOOL_KAMAILIO_REF`` overrides it. This is the
one place that knows the path.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from tests.support.kamailio import REFERENCE

RPC_DIR: Path = REFERENCE / "rpc"


@cache
def capture(name: str) -> dict[str, Any]:
    """The capture ``rpc/<name>.json`` (``name`` without ``.json``)."""
    return json.loads((RPC_DIR / f"{name}.json").read_text())


def result(name: str) -> Any:
    """The ``result`` member of a capture's reply."""
    return capture(name)["response"]["result"]


def names(prefix: str = "") -> list[str]:
    """Every capture name starting with ``prefix``, sorted."""
    return sorted(p.stem for p in RPC_DIR.glob(f"{prefix}*.json"))
