"""tm's timers as run-time ``cfg`` variables: ``cfg.seti tm fr_inv_timer 3000``.

Kamailio's group, names and unit (milliseconds). A new value applies to the transactions
started from then on, as Kamailio copies the cfg values into each new transaction; a
route's ``t_set_fr`` still wins for its own transaction. ``max_inv_lifetime`` and
``max_noninv_lifetime`` are not declared: kamtool has no overall transaction lifetime cap
to change (fr_timer / fr_inv_timer bound every branch).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

from kamtool.proxy.cfg import CfgStore, default_cfg

__all__ = ["TM_TIMERS", "declare_tm_timers", "proxy_cfg"]

# cfg name -> (TimerConfig field, the TimerConfig property read for the current value, help)
TM_TIMERS: dict[str, tuple[str, str, str]] = {
    "fr_timer": (
        "fr_timer", "b",
        "timer which hits if no final reply for a request or ACK for a negative INVITE "
        "reply arrives (in milliseconds)",
    ),
    "fr_inv_timer": (
        "c", "c",
        "timer which hits if no final reply for an INVITE arrives after a provisional "
        "message was received (in milliseconds)",
    ),
}  # fmt: skip


def _apply(sip: Any, field: str, value: int | str) -> None:
    """Set ``field`` of the sip layer's timers from ``value`` ms (ValueError: refused)."""
    ms = int(value)
    if ms <= 0:  # a timer of 0 would end every branch at once
        raise ValueError(f"tm timer must be positive, got {ms}")
    sip.set_timers(replace(sip.timers, **{field: ms / 1000}))


def declare_tm_timers(store: CfgStore, tm: Any) -> None:
    """Declare ``tm fr_timer`` / ``tm fr_inv_timer`` in ``store``, wired to ``tm`` (a
    :class:`kamtool.proxy.tm.TransactionLayer`) and starting from its current values."""
    sip = tm.sip
    for name, (field, current, text) in TM_TIMERS.items():
        seconds = getattr(sip.timers, current)
        if seconds is None:
            continue  # no Timer C: a UA's layer, not a proxy's
        store.declare("tm", name, round(seconds * 1000), text, partial(_apply, sip, field))


def proxy_cfg(tm: Any) -> CfgStore:
    """The ``cfg.*`` store of a running proxy: ``core`` as :func:`default_cfg`, plus
    tm's timers when there is a transaction layer."""
    store = default_cfg()
    if tm is not None:
        declare_tm_timers(store, tm)
    return store
