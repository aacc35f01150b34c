"""The Kamailio 5.6 JSON-RPC captures (located by tests.support.reference)."""

from __future__ import annotations

from typing import Any

from tests.support.reference import RPC_CAPTURES as RPC_DIR
from tests.support.reference import capture as load

__all__ = ["RPC_DIR", "capture", "load"]


def capture(name: str) -> dict[str, Any]:
    """The parsed JSON-RPC reply of capture ``name``."""
    return load(name)["response"]
