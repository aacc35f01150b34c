"""``dlg.*``: dialogs (Kamailio dialog module RPCs) over the proxy's dialog tracker.

:class:`kamtool.proxy.dialogs.DialogTracker` implements :class:`Dialogs`. Shapes follow
``rpc/dlg.*.json``. Difference: ``dlg.briefing`` gives the real callee tag as
``to_tag`` (Kamailio 5.6 repeats the from tag there, a bug).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from kamtool.rpc.kamjson import LazyList, chunks_of
from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["DEFAULT_PROFILES", "Dialogs", "active_counts", "dialog_info", "register"]

# The reference cfg's profiles: with value (caller, callee) and without (inbound, outbound)
DEFAULT_PROFILES = ("caller", "callee", "inbound", "outbound")


class Dialogs(Protocol):
    """What ``dlg.*`` needs.

    * ``dialogs()`` → every dialog still listed, objects with the attributes of
      :class:`kamtool.proxy.dialogs.Dialog` (h_entry, h_id, ref, call_id, from_uri,
      to_uri, state 1..5, start_ts, init_ts, end_ts, duration, timeout, lifetime, dflags,
      sflags, iflags, caller/callee legs with tag, contact, cseq (str), route_set,
      socket, and ``profiles``: a list of ``{"name": "value"}`` dicts and bare names);
    * ``end(h_entry, h_id)`` → sends BYE both ways; False when there is no such dialog;
    * ``shared`` (may be absent or None) → the other nodes' and workers' profile counts,
      ``remote_profile_size((profile, value))`` (Redis state, or the workers' copies).
    """

    def dialogs(self) -> list[Any]: ...
    def end(self, h_entry: int, h_id: int) -> bool: ...


def _leg(leg: Any) -> dict[str, Any]:
    return {
        "tag": leg.tag,
        "contact": leg.contact,
        "cseq": leg.cseq,
        "route_set": leg.route_set,
        "socket": leg.socket,
    }


def dialog_info(d: Any) -> dict[str, Any]:
    """One dialog as ``dlg.list`` prints it."""
    duration = d.duration() if callable(d.duration) else d.duration
    return {
        "h_entry": d.h_entry,
        "h_id": d.h_id,
        "ref": d.ref,
        "call-id": d.call_id,
        "from_uri": d.from_uri,
        "to_uri": d.to_uri,
        "state": d.state,
        "start_ts": d.start_ts,
        "init_ts": d.init_ts,
        "end_ts": d.end_ts,
        "duration": duration,
        "timeout": d.timeout,
        "lifetime": d.lifetime,
        "dflags": d.dflags,
        "sflags": d.sflags,
        "iflags": d.iflags,
        "caller": _leg(d.caller),
        "callee": _leg(d.callee),
        # an ended dialog (state 5, listed a few seconds more) has left its profiles, as
        # the counts say; Kamailio lists none for it either
        "profiles": [] if d.state == 5 else list(d.profiles),
        "variables": [],
    }


def _in_profile(d: Any, profile: str, value: str | None) -> bool:
    for p in d.profiles:
        if isinstance(p, str):
            if p == profile and value is None:
                return True
        elif isinstance(p, dict) and profile in p and (value is None or p[profile] == value):
            return True
    return False


def active_counts(dialogs: Dialogs) -> dict[str, int]:
    """``dlg.stats_active``: dialogs by state (Kamailio's words), ended ones left out."""
    counts = dict.fromkeys((1, 2, 3, 4), 0)
    for d in dialogs.dialogs():
        if d.state in counts:
            counts[d.state] += 1
    return {
        "starting": counts[1],
        "connecting": counts[2],
        "answering": counts[3],
        "ongoing": counts[4],
        "all": sum(counts.values()),
    }


def register(
    registry: Registry,
    dialogs: Dialogs,
    *,
    profiles: Iterable[str] | Callable[[], Iterable[str]] = DEFAULT_PROFILES,
) -> None:
    """Add ``dlg.list|list_ctx|briefing|stats_active|profile_list|profile_get_size|end_dlg``."""

    def known_profiles() -> set[str]:
        return set(profiles() if callable(profiles) else profiles)

    def members(profile: str, value: str | None) -> list[Any]:
        if profile not in known_profiles():
            raise RpcFault(404, f"Profile not found: {profile}")
        # an ended dialog (state 5, still listed for a few seconds) has left its profiles,
        # as the proxy's call limits count them
        return [d for d in dialogs.dialogs() if d.state != 5 and _in_profile(d, profile, value)]

    def list_all() -> LazyList:
        # streamed: dialogs listed now, printed 200 at a time (see kamjson.LazyList); in
        # Kamailio's order (hash bucket, then age) when the table knows it
        by_entry = getattr(dialogs, "dialogs_by_entry", None)
        listed = list(by_entry() if by_entry is not None else dialogs.dialogs())
        return LazyList(lambda: ([dialog_info(d) for d in c] for c in chunks_of(listed, 200)))

    def count() -> int:
        return len(dialogs.dialogs())

    def brief(d: Any) -> dict[str, Any]:
        return {
            "h_entry": d.h_entry,
            "h_id": d.h_id,
            "from_uri": d.from_uri,
            "to_uri": d.to_uri,
            "call-id": d.call_id,
            "from_tag": d.caller.tag or "",
            "to_tag": d.callee.tag or "",
        }

    def briefing() -> LazyList:
        listed = list(dialogs.dialogs())  # streamed as list_all
        return LazyList(lambda: ([brief(d) for d in c] for c in chunks_of(listed, 200)))

    def stats_active() -> dict[str, int]:
        return active_counts(dialogs)

    def profile_list(profile: str, value: str | None = None) -> LazyList:
        found = members(profile, value)  # streamed as list_all
        return LazyList(lambda: ([dialog_info(d) for d in c] for c in chunks_of(found, 200)))

    def profile_get_size(profile: str, value: str | None = None) -> int:
        # the number the route's limits count: with shared state (several hosts on
        # Redis, or the workers of one serve) the others' dialogs too, as Kamailio counts
        # the dialogs dmq replicated to it
        shared = getattr(dialogs, "shared", None)
        remote = shared.remote_profile_size((profile, value)) if shared is not None else 0
        return len(members(profile, value)) + remote

    def end_dlg(h_entry: int, h_id: int, extra_headers: str | None = None) -> None:
        if not dialogs.end(h_entry, h_id):
            raise RpcFault(404, "Dialog not found")

    registry.add("dlg.list", list_all, "Print all dialogs.", cost=count)
    registry.add("dlg.list_ctx", list_all, "Print all dialogs with associated context.", cost=count)
    registry.add("dlg.briefing", briefing, "Print a summary of all dialogs.", cost=count)
    registry.add("dlg.stats_active", stats_active, "Dialog counts by state.")
    profile, value = Param("profile"), Param("value", required=False)
    registry.add(
        "dlg.profile_list", profile_list, "List the dialogs in a profile.", profile, value,
        missing="Not enough parameters (profile name)",
    )  # fmt: skip
    registry.add(
        "dlg.profile_get_size", profile_get_size, "Count the dialogs in a profile.", profile,
        value, missing="Not enough parameters (profile name)",
    )  # fmt: skip
    registry.add(
        "dlg.end_dlg", end_dlg, "End a dialog given its hash entry and id.",
        Param("h_entry", "int"), Param("h_id", "int"), Param("extra_hdrs", required=False),
    )  # fmt: skip
