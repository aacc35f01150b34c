"""tm at run time: transaction counters (``tm.stats``)."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc


def stats(rpc: Rpc) -> dict[str, Any]:
    """``{current, waiting, total, total_local, rpl_received, ..., 2xx ... 6xx, created,
    freed}``."""
    return dict(rpc.call("tm.stats"))
