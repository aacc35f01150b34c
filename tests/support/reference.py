"""Where the captured Kamailio 5.6 reference material lives, and loaders for it.

The material lives in the repository (``tests/reference/kamailio-5.6``, re-captured from a
real Kamailio by ``scripts/capture-reference``); ``KAMTOOL_KAMAILIO_REF`` points elsewhere.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Path(
    os.environ.get("KAMTOOL_KAMAILIO_REF", REPO / "tests" / "reference" / "kamailio-5.6")
)
RPC_CAPTURES = REFERENCE / "rpc"


@cache
def capture(name: str) -> dict[str, Any]:
    """One JSON-RPC exchange, by file stem: ``capture("ul.dump")``."""
    return json.loads((RPC_CAPTURES / f"{name}.json").read_text())


def capture_names() -> list[str]:
    """Every capture's file stem, sorted."""
    return sorted(p.stem for p in RPC_CAPTURES.glob("*.json"))
