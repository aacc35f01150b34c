"""The health rules, for the monitor: they live in :mod:`kamtool.core.health`, shared with
``kamtool diagnose`` and ``/metrics``; this module re-exports them."""

from __future__ import annotations

from kamtool.core.health import (
    CRITICAL,
    OK,
    WARNING,
    Check,
    Thresholds,
    check_connection,
    check_dispatcher,
    check_error_rate,
    check_shared_memory,
    check_transactions,
    current_transactions,
    evaluate,
    worst,
)

__all__ = [
    "CRITICAL", "OK", "WARNING", "Check", "Thresholds", "check_connection", "check_dispatcher",
    "check_error_rate", "check_shared_memory", "check_transactions", "current_transactions",
    "evaluate", "worst",
]  # fmt: skip
