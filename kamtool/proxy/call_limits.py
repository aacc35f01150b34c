"""The usual cfg call limits (``get_profile_size()`` before ``t_relay()``) on the dialog
profiles an INVITE would join: ``KSR.kamtool.call_limits()``."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class CallLimits:
    """``max_calls``, ``max_calls_per_caller``, ``max_calls_per_callee`` and their
    ``dlglimit:*_refused`` counters."""

    def __init__(self, config: Any, tracker: Any, stats: Any, sl: Any) -> None:
        self.config = config
        self.tracker = tracker  # DialogTracker: profile sizes
        self.sl = sl
        self.refused = {
            k: stats.counter("dlglimit", f"{k}_refused") for k in ("global", "caller", "callee")
        }

    def over(self, req: Any, endpoint: Any, addr: Any, profiles: list[Any]) -> bool:
        """True when the INVITE was refused (and answered).

        The statuses are the ones Kamailio deployments answer with: over the global limit
        the server is out of capacity, a temporary condition the caller may retry
        elsewhere (503, RFC 3261 21.5.4); over the caller's limit the request is refused
        to this caller until one of its calls ends (403 "Too Many Calls"); over the
        callee's limit the callee is busy, so the caller's phone shows busy (486).
        """
        cfg = self.config
        if not (cfg.max_calls or cfg.max_calls_per_caller or cfg.max_calls_per_callee):
            return False  # no limits configured (the default): nothing to count
        size = self.tracker.profile_size
        values = {k: v for p in profiles if isinstance(p, dict) for k, v in p.items()}
        refusal = None
        if cfg.max_calls and size() >= cfg.max_calls:
            refusal = ("global", 503, "Service Unavailable - Too Many Calls")
        elif (
            cfg.max_calls_per_caller
            and "caller" in values
            and size("caller", values["caller"]) >= cfg.max_calls_per_caller
        ):
            refusal = ("caller", 403, "Too Many Calls")
        elif (
            cfg.max_calls_per_callee
            and "callee" in values
            and size("callee", values["callee"]) >= cfg.max_calls_per_callee
        ):
            refusal = ("callee", 486, "Busy Here")
        if refusal is None:
            return False
        which, status, reason = refusal
        self.refused[which].value += 1
        log.info("%s limit: %s %s to %s refused (%d)", which, req.method,
                 values.get("caller", ""), req.uri_text, status)  # fmt: skip
        self.sl.reply(req, endpoint, addr, status, reason)
        return True
