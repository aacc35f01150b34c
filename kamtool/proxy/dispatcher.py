"""The dispatcher module: destination sets from the ``dispatcher`` table, load balancing,
OPTIONS probing and failover, with Kamailio 5.6's semantics.

Sets, states and the selection are :class:`kamtool.core.dispatch.engine.DsEngine`'s (every
algorithm 0-13, attributes, call load, latency statistics, checked against a real
Kamailio in tests/dispatch); this class loads the table into it, resolves destination
names without blocking the event loop (``kamtool/proxy/ds_dns.py``), probes, and shows
each destination as a :class:`Destination`.

State per destination is Kamailio's bit set (``flags`` column on load, then run time):
:data:`DS_INACTIVE` 1, :data:`DS_TRYING` 2, :data:`DS_DISABLED` 4, :data:`DS_PROBING` 8,
16 no DNS lookup. ``dispatcher.list`` shows it as two letters: ``I``/``D``/``T``/``A``
(first bit set, in that order), then ``P`` or ``X``. Inactive and disabled destinations
are never selected.

* Order inside a set is Kamailio's: highest priority first; among equal priorities the row
  loaded last comes first (the module builds an ascending list and copies it backwards).
* ``dispatcher.list`` prints the sets in the post-order of the AVL tree the module inserts
  them into (for sets 1 and 2 that is 2, 1; for 1, 2, 3 it is 1, 3, 2): :meth:`sets`
  returns them in that order.
* :meth:`Dispatcher.select` is ``ds_select_dst(set, alg)`` with failover on (``flags`` 2):
  the chosen destination, then the usable ones after it, then those before it, which is
  the list ``ds_next_dst()`` walks. The built-in route passes the Call-ID only, so it
  offers the algorithms in :data:`ALGORITHMS`; route scripts pass the whole request.
* Probing (``ds_ping_interval``): every interval each destination the probing mode covers
  gets a ``ds_ping_method`` request from ``ds_ping_from`` through the proxy's transaction
  layer. A 2xx or a code of ``ds_ping_reply_codes`` is a success: the destination becomes
  active (``AP`` in mode 1) once ``ds_inactive_threshold`` successes in a row were seen
  while it was inactive; anything else (a timeout is 408) is a failure: ``trying``, and
  ``inactive`` once ``ds_probing_threshold`` failures in a row were seen. Disabled
  destinations are neither probed nor changed by probe results. The time to each answer
  feeds the latency statistics (algorithm 13).

The class holds no sockets: :meth:`Dispatcher.start` takes the proxy's timer heap and a
``probe(destination, done)`` function (proxy.probe.Prober sends the request, ``done(status)``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kamtool.core.dispatch.engine import DsEngine
from kamtool.core.dispatch.hashing import ds_hash
from kamtool.core.dispatch.model import (  # Kamailio's DS_*_DST bits
    DS_DISABLED,
    DS_INACTIVE,
    DS_PROBING,
    DS_TRYING,
    DsDest,
    DsParams,
    DsRequest,
    SelectError,
)
from kamtool.core.dispatch.order import avl_post_order
from kamtool.core.dispatch.resolve import DNS_ALWAYS, DNS_INIT, DNS_TIMER, query_for
from kamtool.proxy.ds_destination import Destination

__all__ = [
    "ALGORITHMS",
    "DS_DISABLED",
    "DS_INACTIVE",
    "DS_PROBING",
    "DS_TRYING",
    "Destination",
    "Dispatcher",
    "DispatcherSettings",
    "call_id_hash",
    "canonical_state",
    "parse_reply_codes",
]

log = logging.getLogger(__name__)

# ds_probing_mode
PROBE_NONE, PROBE_ALL, PROBE_INACTIVE, PROBE_FLAGGED = 0, 1, 2, 3

# what the built-in route can use (it gives the Call-ID only; the URI, user and PV hashes,
# call load and parallel forking are for route scripts: KSR.dispatcher)
ALGORITHMS = {
    0: "hash over the Call-ID",
    4: "round-robin",
    6: "random",
    8: "first usable by priority",
    9: "weighted (attribute weight=)",
    11: "relative weight (attribute rweight=)",
    13: "latency-adjusted priority",
}


@dataclass(frozen=True, slots=True)
class DispatcherSettings:
    """The module parameters (defaults: the reference cfg's modparams)."""

    ping_method: str = "OPTIONS"
    ping_from: str = "sip:dispatcher@localhost"
    ping_interval: float = 10.0  # 0: no probing
    probing_threshold: int = 1
    inactive_threshold: int = 1
    probing_mode: int = PROBE_ALL
    ping_reply_codes: str = "class=2;code=403;code=404;code=488;class=3"
    latency_stats: bool = False  # ds_ping_latency_stats: LATENCY in dispatcher.list
    hash_size: int = 0  # ds_hash_size: > 0 shows the call load (RUNTIME) in dispatcher.list
    dns_mode: int = DNS_INIT  # ds_dns_mode: 1 at load, 2 at each match, 4 refresh, 8 SRV
    dns_interval: float = 600.0  # ds_dns_interval: seconds between refreshes (mode 4)


def parse_reply_codes(text: str) -> tuple[frozenset[int], frozenset[int]]:
    """``ds_ping_reply_codes`` (``class=2;code=403``) → (codes, classes); out-of-range
    entries are ignored as Kamailio does. ValueError for a malformed list."""
    codes: set[int] = set()
    classes: set[int] = set()
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in ("code", "class"):
            raise ValueError(f"bad ds_ping_reply_codes entry {part.strip()!r}")
        number = int(value.strip())
        if name == "code" and 100 <= number < 700:
            codes.add(number)
        elif name == "class" and 1 <= number < 7:
            classes.add(number)
    return frozenset(codes), frozenset(classes)


def call_id_hash(call_id: str) -> int:
    """Kamailio's ``ds_get_hash`` of one string (algorithm 0): the hash of the trimmed
    Call-ID, never 0."""
    return ds_hash(call_id.strip())


def canonical_state(text: str) -> str | None:
    """A state as ``dispatcher.set_state``/``ds_mark_dst`` take it (``a``, ``ip``, ``1``,
    ``0p``, ``D`` ...) → our letters (``a``, ``ip``, ``d``, ``t``, ...); None when the
    first character means nothing. ``p`` after ``d`` is ignored, as in Kamailio."""
    if not text:
        return None
    first = {"0": "i", "1": "a", "2": "d", "3": "t"}.get(text[0], text[0].lower())
    if first not in "aidt":
        return None
    probing = first != "d" and len(text) > 1 and text[1] in "pP"
    return first + ("p" if probing else "")


def state_bits(letters: str) -> int:
    """Bits of a :func:`canonical_state` value."""
    bits = {"a": 0, "i": DS_INACTIVE, "d": DS_DISABLED, "t": DS_TRYING}[letters[0]]
    return bits | (DS_PROBING if letters[1:] == "p" else 0)


class Dispatcher:
    """Destination sets with run-time states (see module docstring).

    ``Dispatcher(database)`` reads the table at once and raises when it cannot (the RPC
    server's snapshot); the proxy passes ``load=False`` and calls :meth:`load`, which logs
    instead, then :meth:`start` for probing.
    """

    def __init__(
        self,
        database: Any = None,
        settings: DispatcherSettings | None = None,
        *,
        load: bool = True,
        rng: random.Random | None = None,
        resolver: Any = None,
        shared: Any = None,
    ) -> None:
        self.database = database
        # told of every state change, ds_changed(set_id, uri, state): the other workers
        # of --workers N (kamtool.proxy.workers.shared_dispatcher) copy it with mirror_state
        self.shared = shared
        self.settings = settings or DispatcherSettings()
        self.codes, self.classes = parse_reply_codes(self.settings.ping_reply_codes)
        self.ping_active = True
        self.engine: DsEngine | None = None  # kamtool.core.dispatch: states, selection
        self._views: dict[int, list[Destination]] = {}
        self._dns_task: Any = None
        self._rng = rng or random.Random()
        self._resolver = resolver  # kamtool.core.dispatch.resolve.Resolver; None: the system's
        self._refresher: Any = None
        self._on_match: Any = None  # ds_dns_mode 2: kamtool.proxy.ds_dns.LookupOnMatch
        self._timers: Any = None
        self._timer: Any = None
        self._probe: Callable[[Destination, Callable[[int], None]], None] | None = None
        if load:
            self.reload()

    # ------------------------------------------------------------------ the table

    def load(self) -> None:
        """:meth:`reload`, logging (not raising) when the table cannot be read."""
        try:
            self.reload()
        except Exception as exc:
            log.warning("cannot load the dispatcher table: %s", exc)

    def _rollback(self) -> None:
        try:
            self.database.rollback()
        except Exception:
            pass

    def reload(self) -> None:
        """Re-read the table (``dispatcher.reload``): states restart from the ``flags``
        column. A table that cannot be read raises and leaves the sets as they were."""
        self.replace(self.read_rows())

    def read_rows(self) -> list[tuple[int, str, int, int, str, str]]:
        """The table's rows for :meth:`replace` (any thread: KSR's ds_reload() reads
        them on the database worker); raises when the table cannot be read."""
        from kamtool.db import schema
        from kamtool.db.models import make_model

        m = make_model(schema.tables()["dispatcher"], self.database)
        try:
            rows = [
                (r.setid, r.destination, r.flags or 0, r.priority or 0, r.attrs or "",
                 r.description or "")
                for r in m.select().order_by(m.id)
            ]  # fmt: skip
        except Exception:
            self._rollback()  # PostgreSQL refuses everything after a failed statement
            raise
        return rows

    def replace(self, rows: list[tuple[int, str, int, int, str, str]]) -> None:
        """New sets from ``(setid, uri, flags, priority, attrs, description)`` rows in
        table order; a URI that does not parse is skipped (logged), as Kamailio does.
        Destinations given by name are looked up first and, as Kamailio refuses them at
        load, left out when they do not resolve (unless flagged 16, no DNS): without an
        event loop at once, on a running loop (a reload over RPC) in a task, the old sets
        serving until it is done. Calls in progress keep their load (algorithm 10)."""
        engine = self._engine(rows)
        for set_id, uri, why in engine.skipped_rows:
            log.warning("dispatcher: skipping %s %r in set %d", why, uri, set_id)
        mode = self.settings.dns_mode
        if not mode or not any(query_for(d, mode) for d in engine.destinations()):
            self._install(engine)
            return
        job = self._resolve_and_install(rows, engine)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(job)
        else:
            self._dns_task = loop.create_task(job)

    def _engine(self, rows: list[tuple[int, str, int, int, str, str]]) -> DsEngine:
        s = self.settings
        params = DsParams(probing_threshold=s.probing_threshold,
                          inactive_threshold=s.inactive_threshold)  # fmt: skip
        return DsEngine(rows, params, self._rng)

    async def _resolve_and_install(
        self, rows: list[tuple[int, str, int, int, str, str]], engine: DsEngine
    ) -> None:
        from kamtool.proxy.ds_dns import refresh

        mode = self.settings.dns_mode
        await refresh(engine, self.resolver(), mode, self.settings.dns_interval)
        gone = [d for d in engine.destinations() if query_for(d, mode) and d.address is None]
        if gone:
            for d in gone:
                log.warning("dispatcher: %s does not resolve: left out of set %d (flag 16 "
                            "keeps a destination without DNS)", d.uri, d.set_id)  # fmt: skip
            dropped = {d.row for d in gone}
            found = {d.row: d for d in engine.destinations()}
            engine = self._engine([r for n, r in enumerate(rows) if n not in dropped])
            kept = sorted(n for n in found if n not in dropped)
            for new_row, d in enumerate(sorted(engine.destinations(), key=lambda d: d.row)):
                old = found[kept[new_row]]
                d.address, d.resolved_port, d.dnstime = old.address, old.resolved_port, old.dnstime
        self._install(engine)

    def _install(self, engine: DsEngine) -> None:
        if self.engine is not None:
            engine.adopt_loads(self.engine)
        self.engine = engine
        self._views = {
            set_id: [Destination(d) for d in engine.sets[set_id].dests]
            for set_id in avl_post_order(list(engine.sets))
        }

    def resolver(self) -> Any:
        """The resolver names are looked up with (the system's unless one was given)."""
        if self._resolver is None:
            from kamtool.proxy.ds_dns import AsyncDnsResolver

            self._resolver = AsyncDnsResolver()
        return self._resolver

    def sets(self) -> dict[int, list[Destination]]:
        """``{set_id: destinations}`` in ``dispatcher.list`` order (see module docstring)."""
        return self._views

    def destinations(self) -> Iterator[Destination]:
        for views in self._views.values():
            yield from views

    def _view(self, ds: DsDest) -> Destination:
        return next(v for v in self._views[ds.set_id] if v.ds is ds)

    def find(self, set_id: int, uri: str) -> Destination | None:
        """The destination ``uri`` of set ``set_id`` (URIs compare case-insensitively)."""
        ds = self.engine.find(set_id, uri) if self.engine else None
        return self._view(ds) if ds is not None else None

    # ------------------------------------------------------------------ states

    def set_state(self, state: str, set_id: int, uri: str) -> bool:
        """``dispatcher.set_state``: ``state`` as :func:`canonical_state` returns it,
        ``uri`` a destination or ``all``; the state bits are replaced, counters kept.
        False when nothing matched."""
        letters = canonical_state(state)
        if letters is None or self.engine is None:
            return False
        return self.engine.set_state(set_id, uri, state_bits(letters))

    def set_duid_state(self, state: str, set_id: int, duid: str) -> bool:
        """``dispatcher.set_duid_state``: as :meth:`set_state` for the destination with
        that ``duid`` (``all``: every one of the set)."""
        letters = canonical_state(state)
        if letters is None or self.engine is None:
            return False
        if duid == "all":
            return self.engine.set_state(set_id, "all", state_bits(letters))
        return self.engine.set_duid_state(set_id, duid, state_bits(letters))

    def update_state(self, set_id: int, uri: str, state: int) -> bool:
        """``ds_update_state``: what ``ds_mark_dst`` and probe results do, with the
        thresholds. False when the destination is not there (any more)."""
        dst = self.find(set_id, uri)
        if dst is None:
            return False
        was, bits = dst.usable, dst.state
        self.engine.update_state(set_id, uri, state)
        if dst.usable != was:
            log.info("dispatcher: %s in set %d is now %s", uri, set_id, dst.flags)
        if self.shared is not None and dst.state != bits:
            self.shared.ds_changed(set_id, uri, dst.state)
        return True

    def mirror_state(self, set_id: int, uri: str, state: int) -> None:
        """A state another worker set (its probe or ds_mark_dst): taken as it is."""
        if self.engine is not None and self.find(set_id, uri) is not None:
            self.engine.set_state(set_id, uri, state)

    def mark(self, dst: Destination, state: str = "ip") -> bool:
        """``ds_mark_dst(state)`` for a destination a call was sent to."""
        letters = canonical_state(state)
        if letters is None:
            raise ValueError(f"bad dispatcher state {state!r}")
        return self.update_state(dst.set_id, dst.uri, state_bits(letters))

    # ------------------------------------------------------------------ selection

    def select(
        self, set_id: int, alg: int, call_id: str = "", request: DsRequest | None = None
    ) -> list[Destination] | None:
        """``ds_select_dst(set_id, alg)``: the chosen destination first, then the failover
        list (algorithm 12: then the parallel branches); None when the set is missing or
        nothing in it is usable. ``request`` carries what the hash algorithms other than
        the Call-ID's read."""
        if self.engine is None:
            return None
        req = request or DsRequest(call_id=call_id)
        try:
            sel = self.engine.select(set_id, alg, req)
        except SelectError:
            return None
        chosen = sel.failover or [sel.dest, *sel.branches]
        return [self._view(d) for d in chosen]

    # ------------------------------------------------------------------ probing

    def start(
        self, timers: Any, probe: Callable[[Destination, Callable[[int], None]], None]
    ) -> None:
        """Probe every ``ping_interval`` seconds (the first round one interval after the
        start, as Kamailio's timer) with ``probe(destination, done)``."""
        self._timers, self._probe = timers, probe
        if self.settings.ping_interval > 0:
            self._timer = timers.call_later(self.settings.ping_interval, self._tick)
        if self.settings.dns_mode & DNS_TIMER:
            self.start_dns_refresh()

    def start_dns_refresh(self) -> None:
        """Look the names up again every ``dns_interval`` seconds (``ds_dns_mode`` 4), on
        the running event loop."""
        from kamtool.proxy.ds_dns import DnsRefresher

        mode, interval = self.settings.dns_mode, self.settings.dns_interval
        self._refresher = DnsRefresher(self._current_engine, self.resolver(), mode, interval)
        self._refresher.start()

    def address_matched(self) -> None:
        """``ds_is_from_list`` compares addresses: with ``ds_dns_mode`` 2 the names are
        looked up again (on the loop; see :class:`kamtool.proxy.ds_dns.LookupOnMatch`)."""
        if not self.settings.dns_mode & DNS_ALWAYS or self.engine is None:
            return
        if self._on_match is None:
            from kamtool.proxy.ds_dns import LookupOnMatch

            self._on_match = LookupOnMatch(
                self._current_engine, self.resolver(), self.settings.dns_mode
            )
        self._on_match.poke()

    def _current_engine(self) -> DsEngine:
        assert self.engine is not None
        return self.engine

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._refresher is not None and self._refresher._task is not None:
            self._refresher._task.cancel()
            self._refresher = None

    def _should_probe(self, dst: Destination) -> bool:
        mode = self.settings.probing_mode
        if dst.state & DS_DISABLED:
            return False
        if mode == PROBE_ALL:
            return True
        if mode == PROBE_INACTIVE:
            return bool(dst.state & DS_PROBING and dst.state & DS_INACTIVE)
        return bool(mode != PROBE_NONE and dst.state & DS_PROBING)

    def probe_now(self) -> int:
        """One probing round (what the timer does); returns the number of probes sent."""
        if not self.ping_active or self._probe is None:
            return 0
        sent = 0
        for dst in list(self.destinations()):
            if self._should_probe(dst):
                sent += 1
                self._probe(dst, self._on_result(dst.set_id, dst.uri, time.monotonic()))
        return sent

    def _tick(self) -> None:
        self._timer = self._timers.call_later(self.settings.ping_interval, self._tick)
        self.probe_now()

    def _on_result(self, set_id: int, uri: str, sent: float) -> Callable[[int], None]:
        def done(status: int) -> None:
            if self.engine is not None:  # latency statistics, before the state changes
                ms = int((time.monotonic() - sent) * 1000)
                self.engine.probe_latency(set_id, uri, status, ms)
            self.probe_result(set_id, uri, status)

        return done

    def reply_accepted(self, status: int) -> bool:
        """A probe reply that counts as "alive": 2xx or ``ds_ping_reply_codes``."""
        return 200 <= status < 300 or status in self.codes or status // 100 in self.classes

    def probe_result(self, set_id: int, uri: str, status: int) -> None:
        """The final status of a probe (408 when it timed out, 500 when it could not be
        sent); found again by set and URI, as a reload may have happened meanwhile."""
        dst = self.find(set_id, uri)
        mode = self.settings.probing_mode
        if dst is None or dst.state & DS_DISABLED:
            return  # gone, or disabled by an operator meanwhile
        if mode == PROBE_FLAGGED and not dst.state & DS_PROBING:
            return
        if self.reply_accepted(status):
            keep_probing = mode in (PROBE_ALL, PROBE_FLAGGED)
            self.update_state(set_id, uri, DS_PROBING if keep_probing else 0)
        else:
            self.update_state(set_id, uri, DS_TRYING | (DS_PROBING if mode != PROBE_NONE else 0))


def user_pattern(text: str) -> re.Pattern[str] | None:
    """The R-URI user pattern of route[DISPATCH] (``""``: no dispatching)."""
    return re.compile(text) if text else None
