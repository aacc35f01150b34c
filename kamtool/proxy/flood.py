"""route[REQINIT]'s flood check for what never reaches the route script: a malformed
request from a banned or flooding source is dropped, not answered 400."""

from __future__ import annotations

import logging
from typing import Any

from kamtool.proxy.pike import Verdict

log = logging.getLogger(__name__)


class FloodGuard:
    """The ``ipban`` htable and pike (None when disabled), as the default route uses them."""

    def __init__(self, htables: Any, pike: Any) -> None:
        self.htables = htables
        self.pike = pike

    def banned(self, req: Any, addr: tuple[str, int]) -> bool:
        """True when a message from ``addr`` must be dropped unanswered: its source is in
        ``ipban`` (quietly), or pike finds it over the limit (logged, banned)."""
        ipban = self.htables.get("ipban")
        if ipban is not None and ipban.get(addr[0]) is not None:
            log.debug("request from banned ip %s dropped", addr[0])
            return True
        if self.pike is None or self.pike.check(addr[0]) is Verdict.OK:
            return False
        log.warning("pike blocking %s (IP:%s:%s)", getattr(req, "method", "a request"),
                    addr[0], addr[1])  # fmt: skip
        if ipban is not None:
            ipban.set(addr[0], 1)
        return True
