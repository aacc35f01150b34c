"""Access to the Kamailio 5.6 JSON-RPC captures of the reference folder."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Path(
    os.environ.get("KAMTOOL_KAMAILIO_REF", REPO.parent / "shared" / "reference" / "kamailio-5.6")
)
RPC_DIR = REFERENCE / "rpc"


@cache
def load(name: str) -> dict[str, Any]:
    """The whole capture file ``rpc/<name>.json``."""
    return json.loads((RPC_DIR / f"{name}.json").read_text())


def capture(name: str) -> dict[str, Any]:
    """The parsed JSON-RPC reply of capture ``name``."""
    return load(name)["response"]
