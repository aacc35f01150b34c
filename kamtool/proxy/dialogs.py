"""Dialog tracking as Kamailio's dialog module does it (``dlg_manage()``).

Every initial INVITE the proxy record-routes becomes a :class:`Dialog` with Kamailio's
states, identified by ``(h_entry, h_id)``: ``h_entry`` is the hash bucket of the Call-ID
(table of :data:`HASH_SIZE`), ``h_id`` a per-bucket counter. The pair is also the ``did``
cookie the proxy puts into its Record-Route (``did=<h_entry hex>.<h_id hex>``), which is how
in-dialog requests find their dialog again.

States (``dlg.list`` → ``state``): 1 unconfirmed (INVITE sent, no reply), 2 early (1xx),
3 confirmed not acked (2xx), 4 confirmed (ACK seen), 5 deleted (BYE, failure, timeout).
Ended dialogs are kept for a short grace time (so retransmitted BYEs still match and
``dlg.list`` shows them in state 5, as Kamailio does) and then dropped.

Read API for the RPC server: :meth:`DialogTracker.dialogs` (live ones, creation order),
:meth:`DialogTracker.get`, :meth:`DialogTracker.end` (``dlg.end_dlg``: BYE both ways),
:meth:`DialogTracker.counts` (``dlg.stats_active``), :meth:`DialogTracker.profile_size`
(``get_profile_size()``, what call limits compare against). Times are unix seconds (ints,
like Kamailio's ``start_ts``...).

Profiles: a dialog is in its profiles from its creation until it ends (state 5). Kamailio
unlinks a dialog from its profiles only when the dialog structure is destroyed, shortly
after the BYE; a call that is over is no longer counted here at all, so that a limit lets
the next call in as soon as the BYE went through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kamtool.core.hashes import core_hash

log = logging.getLogger(__name__)

HASH_SIZE = 4096
DLG_STATE_UNCONFIRMED = 1
DLG_STATE_EARLY = 2
DLG_STATE_CONFIRMED_NA = 3
DLG_STATE_CONFIRMED = 4
DLG_STATE_DELETED = 5
KEEP_ENDED = 10.0  # seconds an ended dialog stays listed (retransmitted BYE/200 still match)

# dlg.list "dflags" bits as the dialog module sets them (dlg_hash.h); kept for the listing
DLG_FLAG_NEW = 1  # answered (2xx)
DLG_FLAG_CHANGED = 2  # its timer was refreshed by a request inside it (ACK...)
DLG_FLAG_HASBYE = 4  # a BYE went through
DLG_FLAG_TM = 1 << 9  # dlg_manage(): the dialog hangs on its INVITE transaction
DLG_FLAG_CHANGED_PROF = 1 << 10  # set_dlg_profile() was called on it


@dataclass(slots=True)
class Leg:
    """One side of a dialog as ``dlg.list`` shows it (caller or callee)."""

    tag: str | None = None
    contact: str | None = None
    cseq: str | None = None  # Kamailio prints the CSeq number as a string
    route_set: str | None = None  # Record-Route values as this side must use them
    socket: str | None = None
    addr: tuple[str, str, int] | None = None  # (proto, host, port) where the leg is reached


@dataclass(slots=True)
class Dialog:
    """One tracked dialog (fields named after ``dlg.list`` keys)."""

    h_entry: int
    h_id: int
    call_id: str
    from_uri: str
    to_uri: str
    state: int = DLG_STATE_UNCONFIRMED
    init_ts: int = 0
    start_ts: int = 0
    end_ts: int = 0
    lifetime: int = 7200
    timeout: int = 0
    dflags: int = 0
    sflags: int = 0
    iflags: int = 0
    ref: int = 1
    caller: Leg = field(default_factory=Leg)
    callee: Leg = field(default_factory=Leg)
    profiles: list[Any] = field(default_factory=list)
    timer: Any = field(default=None, repr=False)
    # when the lifetime ends (clock time): a request inside the call moves it on, and the
    # timer, when it fires early, sleeps again for the rest (no re-arming per request)
    deadline: float = field(default=0.0, repr=False)
    ended_by: str = ""
    vars: dict[str, str] = field(default_factory=dict)  # $dlg_var, KSR.dialog.var_*

    @property
    def did(self) -> str:
        """The Record-Route cookie: ``<h_entry hex>.<h_id hex>``."""
        return f"{self.h_entry:x}.{self.h_id:x}"

    @property
    def duration(self) -> int:
        if self.state == DLG_STATE_DELETED and self.start_ts == 0:
            return self.end_ts  # Kamailio quirk: failed dialogs show duration == end_ts
        if not self.start_ts:
            return 0
        return (self.end_ts or int(time.time())) - self.start_ts


Sender = Callable[[Dialog, str], None]  # send a BYE towards "caller" or "callee"


class DialogTracker:
    """All dialogs of the proxy; bumps the ``dialog:*`` statistics."""

    def __init__(
        self,
        timers: Any,
        *,
        lifetime: int = 7200,
        stats: Any = None,
        send_bye: Sender | None = None,
        clock: Callable[[], float] = time.time,
        id_base: int = 0,
        shared: Any = None,
    ) -> None:
        self.timers = timers
        self.lifetime = lifetime
        self.clock = clock
        self.send_bye = send_bye
        self._by_key: dict[tuple[int, int], Dialog] = {}
        self._by_callid: dict[str, list[Dialog]] = {}
        # --workers N: each worker numbers its dialogs from its own base, so (h_entry,
        # h_id) names one dialog among all of them
        self._next_id = [id_base] * HASH_SIZE
        # (profile, None) and (profile, value) -> dialogs not ended; ("", None) -> all
        self._profile_sizes: dict[tuple[str, str | None], int] = {}
        self.shared = shared  # profile sizes of the other nodes (Redis) or workers
        if stats is not None:
            self._processed = stats.counter("dialog", "processed_dialogs")
            self._expired = stats.counter("dialog", "expired_dialogs")
            self._failed = stats.counter("dialog", "failed_dialogs")
            stats.gauge("dialog", "active_dialogs", lambda: self.counts()["active"])
            stats.gauge("dialog", "early_dialogs", lambda: self.counts()["early"])
        else:
            from kamtool.proxy.stats import Counter

            self._processed, self._expired, self._failed = Counter(), Counter(), Counter()

    # ------------------------------------------------------------------ reading

    def dialogs(self) -> list[Dialog]:
        """Every dialog still in the table, oldest first (``dlg.list``)."""
        return list(self._by_key.values())

    def get(self, h_entry: int, h_id: int) -> Dialog | None:
        return self._by_key.get((h_entry, h_id))

    def by_did(self, did: str) -> Dialog | None:
        """The dialog of a Record-Route ``did`` cookie, if any."""
        entry, _, ident = did.partition(".")
        try:
            return self._by_key.get((int(entry, 16), int(ident, 16)))
        except ValueError:
            return None

    def find(self, call_id: str, tag_a: str | None, tag_b: str | None) -> Dialog | None:
        """The dialog with this Call-ID whose tags match in either direction."""
        for d in self._by_callid.get(call_id, ()):
            tags = {d.caller.tag, d.callee.tag}
            if tag_a in tags and (tag_b in tags or d.callee.tag is None):
                return d
        return None

    def profile_size(self, profile: str = "", value: str | None = None) -> int:
        """Dialogs not ended in ``profile`` (with ``value``: only those with that value);
        ``profile`` "": every dialog not ended. Constant time (kept by create/_terminate);
        with shared state, the other nodes' dialogs count too."""
        n = self._profile_sizes.get((profile, value), 0)
        if self.shared is not None:
            n += self.shared.remote_profile_size((profile, value))
        return n

    def profile_sizes(self) -> dict[tuple[str, str | None], int]:
        """This node's own profile sizes (what it shares with the others)."""
        return dict(self._profile_sizes)

    def dialogs_by_entry(self) -> list[Dialog]:
        """Every dialog still in the table in Kamailio's ``dlg.list`` order: by hash
        bucket, oldest first within one (it walks its hash table)."""
        return sorted(self._by_key.values(), key=lambda d: d.h_entry)

    def counts(self) -> dict[str, int]:
        """``dlg.stats_active``: starting, connecting, answering, ongoing, all (+early/active)."""
        c = {"starting": 0, "connecting": 0, "answering": 0, "ongoing": 0}
        for d in self._by_key.values():
            if d.state == DLG_STATE_UNCONFIRMED:
                c["starting"] += 1
            elif d.state == DLG_STATE_EARLY:
                c["connecting"] += 1
            elif d.state == DLG_STATE_CONFIRMED_NA:
                c["answering"] += 1
            elif d.state == DLG_STATE_CONFIRMED:
                c["ongoing"] += 1
        c["all"] = sum(c.values())
        c["early"] = c["connecting"]
        c["active"] = c["answering"] + c["ongoing"]
        return c

    # ------------------------------------------------------------------ lifecycle

    def create(
        self,
        call_id: str,
        from_uri: str,
        to_uri: str,
        caller: Leg,
        profiles: list[Any] | None = None,
    ) -> Dialog:
        """A new dialog for an initial INVITE (state 1), in ``profiles``: bare names and
        ``{"name": "value"}`` dicts (``set_dlg_profile()``)."""
        h_entry = core_hash(call_id, HASH_SIZE)
        self._next_id[h_entry] += 1
        now = int(self.clock())
        d = Dialog(
            h_entry=h_entry,
            h_id=self._next_id[h_entry],
            call_id=call_id,
            from_uri=from_uri,
            to_uri=to_uri,
            init_ts=now,
            lifetime=self.lifetime,
            caller=caller,
            profiles=list(profiles or ()),
            dflags=DLG_FLAG_TM | (DLG_FLAG_CHANGED_PROF if profiles else 0),
        )
        # Kamailio counts a dialog processed when dlg_manage() creates it, answered or not
        self._processed.value += 1
        self._count_profiles(d, +1)
        self._by_key[(h_entry, d.h_id)] = d
        self._by_callid.setdefault(call_id, []).append(d)
        return d

    def provisional(self, d: Dialog) -> None:
        """A 1xx (other than 100) was relayed: early dialog. The callee's leg (its tag
        too) is only taken from the 2xx, as Kamailio does: a forked call has as many early
        tags as branches, and in-dialog requests match on the caller's tag until then."""
        if d.state == DLG_STATE_UNCONFIRMED:
            d.state = DLG_STATE_EARLY

    def confirmed(self, d: Dialog, callee: Leg) -> None:
        """A 2xx was relayed: confirmed (not acked yet); the lifetime timer starts."""
        if d.state >= DLG_STATE_CONFIRMED_NA:
            return
        d.state = DLG_STATE_CONFIRMED_NA
        d.callee = callee
        d.start_ts = int(self.clock())
        d.dflags |= DLG_FLAG_NEW
        d.ref += 1  # the lifetime timer's reference, as dlg.list shows Kamailio's
        self._restart_timer(d)

    def acked(self, d: Dialog) -> None:
        """The ACK of the 2xx (or any later one): confirmed; the lifetime restarts."""
        if d.state == DLG_STATE_CONFIRMED_NA:
            d.state = DLG_STATE_CONFIRMED
        self.refreshed(d)

    def refreshed(self, d: Dialog) -> None:
        """A request inside an answered dialog went through: its lifetime starts again
        from now (the dialog module's default, ``timeout_noreset`` 0), so a call with
        re-INVITEs or ACKs is timed from its last sign of life."""
        if d.state in (DLG_STATE_EARLY, DLG_STATE_CONFIRMED_NA, DLG_STATE_CONFIRMED):
            d.dflags |= DLG_FLAG_CHANGED  # dlg_update_cseq(), early dialogs (PRACK) too
        if d.state in (DLG_STATE_CONFIRMED_NA, DLG_STATE_CONFIRMED):  # (early: no timer yet)
            now = self.clock()
            d.deadline, d.timeout = now + d.lifetime, int(now) + d.lifetime

    def _restart_timer(self, d: Dialog) -> None:
        """Arm the lifetime timer anew (answered, or a new lifetime that may be shorter)."""
        if d.timer is not None:
            d.timer.cancel()
        now = self.clock()
        d.deadline, d.timeout = now + d.lifetime, int(now) + d.lifetime
        d.timer = self.timers.call_later(d.lifetime, self._lifetime_expired, d)

    def failed(self, d: Dialog) -> None:
        """The INVITE got a final failure (or was cancelled): dialog deleted."""
        if d.state >= DLG_STATE_CONFIRMED_NA:
            return
        self._failed.value += 1
        self._terminate(d, "failed")

    def bye(self, d: Dialog) -> None:
        """A BYE was relayed in the dialog."""
        if d.state != DLG_STATE_DELETED:
            d.dflags |= DLG_FLAG_HASBYE
        self._terminate(d, "bye")

    def end(self, h_entry: int, h_id: int) -> bool:
        """``dlg.end_dlg``: send BYE to both sides and delete the dialog. False if unknown."""
        d = self._by_key.get((h_entry, h_id))
        if d is None or d.state == DLG_STATE_DELETED:
            return False
        self._send_byes(d)
        self._terminate(d, "rpc")
        return True

    def set_lifetime(self, d: Dialog, seconds: int) -> None:
        """``dlg_set_timeout()``: a confirmed dialog ends ``seconds`` from now; one not
        confirmed yet gets that lifetime when it is."""
        d.lifetime = seconds
        if d.state < DLG_STATE_CONFIRMED_NA or d.state == DLG_STATE_DELETED:
            return
        self._restart_timer(d)

    def end_with_byes(self, d: Dialog, sides: tuple[str, ...]) -> None:
        """``dlg_bye()``: BYE to ``sides`` ("caller", "callee"), then the dialog is over."""
        self._send_byes(d, sides)
        self._terminate(d, "dlg_bye")

    def leave_profile(self, d: Dialog, index: int) -> None:
        """``unset_dlg_profile()``: ``d.profiles[index]`` goes, and is no longer counted."""
        self._count_profiles(d, -1)  # recounted with what is left: the keys stay right
        del d.profiles[index]
        self._count_profiles(d, +1)

    def _lifetime_expired(self, d: Dialog) -> None:
        if d.state == DLG_STATE_DELETED:
            return
        left = d.deadline - self.clock()
        if left > 0:  # a request inside the call moved the deadline on
            d.timer = self.timers.call_later(left, self._lifetime_expired, d)
            return
        log.info("dialog %s (%s) reached its lifetime: BYE both sides", d.did, d.call_id)
        self._expired.value += 1
        self._send_byes(d)
        self._terminate(d, "timeout")

    def _send_byes(self, d: Dialog, sides: tuple[str, ...] = ("callee", "caller")) -> None:
        if self.send_bye is None or d.state < DLG_STATE_CONFIRMED_NA:
            return
        for side in sides:
            try:
                self.send_bye(d, side)
            except Exception:
                log.exception("sending BYE to the %s of dialog %s", side, d.did)

    def _terminate(self, d: Dialog, why: str) -> None:
        if d.state == DLG_STATE_DELETED:
            return
        if d.state >= DLG_STATE_CONFIRMED_NA:
            d.ref -= 1  # its lifetime timer is gone
        d.state = DLG_STATE_DELETED
        self._count_profiles(d, -1)
        d.ended_by = why
        d.end_ts = int(self.clock())
        d.timeout = 0  # no lifetime timer any more (dlg.list: "timeout": 0)
        if d.timer is not None:
            d.timer.cancel()
        d.timer = self.timers.call_later(KEEP_ENDED, self._drop, d)

    def _count_profiles(self, d: Dialog, step: int) -> None:
        sizes = self._profile_sizes
        keys: list[tuple[str, str | None]] = [("", None)]
        for p in d.profiles:
            if isinstance(p, dict):
                for name, value in p.items():
                    keys += [(name, None), (name, value)]
            else:
                keys.append((p, None))
        for key in keys:
            n = sizes.get(key, 0) + step
            if n > 0:
                sizes[key] = n
            else:  # one key per caller ever seen would only grow
                sizes.pop(key, None)
        if self.shared is not None:
            self.shared.profiles_changed({key: sizes.get(key, 0) for key in keys})

    def _drop(self, d: Dialog) -> None:
        self._by_key.pop((d.h_entry, d.h_id), None)
        same = self._by_callid.get(d.call_id)
        if same is not None:
            same[:] = [x for x in same if x is not d]
            if not same:
                del self._by_callid[d.call_id]
