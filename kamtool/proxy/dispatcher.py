"""The dispatcher module: destination sets from the ``dispatcher`` table, load balancing,
OPTIONS probing and failover, with Kamailio 5.6's semantics.

State per destination is Kamailio's bit set (``flags`` column on load, then run time):
:data:`DS_INACTIVE` 1, :data:`DS_TRYING` 2, :data:`DS_DISABLED` 4, :data:`DS_PROBING` 8
(16, skip DNS, is kept but has no meaning here). ``dispatcher.list`` shows it as two
letters: ``I``/``D``/``T``/``A`` (first bit set, in that order), then ``P`` or ``X``.
Inactive and disabled destinations are never selected.

* Order inside a set is Kamailio's: highest priority first; among equal priorities the row
  loaded last comes first (the module builds an ascending list and copies it backwards).
* ``dispatcher.list`` prints the sets in the post-order of the AVL tree the module inserts
  them into (for sets 1 and 2 that is 2, 1; for 1, 2, 3 it is 1, 3, 2): :meth:`sets`
  returns them in that order.
* :meth:`Dispatcher.select` is ``ds_select_dst(set, alg)`` with failover on (``flags`` 2):
  the chosen destination, then the usable ones after it, then those before it, which is
  the list ``ds_next_dst()`` walks. Algorithms: 0 hash over the Call-ID (Kamailio's hash,
  so a Call-ID lands on the same index as in Kamailio), 4 round-robin, 8 first usable by
  priority, 9 weighted by the ``weight=`` attribute (a shuffled table of 100 slots per
  set, as Kamailio; it needs a weight on the first destination, else it behaves as 8).
* Probing (``ds_ping_interval``): every interval each destination the probing mode covers
  gets a ``ds_ping_method`` request from ``ds_ping_from`` through the proxy's transaction
  layer. A 2xx or a code of ``ds_ping_reply_codes`` is a success: the destination becomes
  active (``AP`` in mode 1) once ``ds_inactive_threshold`` successes in a row were seen
  while it was inactive; anything else (a timeout is 408) is a failure: ``trying``, and
  ``inactive`` once ``ds_probing_threshold`` failures in a row were seen. Disabled
  destinations are neither probed nor changed by probe results.

The class holds no sockets: :meth:`Dispatcher.start` takes the proxy's timer heap and a
``probe(destination, done)`` function (the router sends the request, ``done(status)``).
"""

from __future__ import annotations

import logging
import random
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kamtool.core.hashes import core_hash
from kamtool.proxy.dest import dest_of_uri
from kamtool.sip.errors import ParseError
from kamtool.sip.uri import SipURI, parse_uri

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

# Kamailio's DS_*_DST bits (dispatch.h)
DS_INACTIVE, DS_TRYING, DS_DISABLED, DS_PROBING, DS_NODNSARES = 1, 2, 4, 8, 16
DS_STATES_ALL = 31
# ds_probing_mode
PROBE_NONE, PROBE_ALL, PROBE_INACTIVE, PROBE_FLAGGED = 0, 1, 2, 3

ALGORITHMS = {
    0: "hash over the Call-ID",
    4: "round-robin",
    8: "first usable by priority",
    9: "weighted (attribute weight=)",
}
_WEIGHT_SLOTS = 100


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
    """Kamailio's ``ds_get_hash`` of one string (algorithm 0): the core hash of the trimmed
    Call-ID, never 0."""
    return core_hash(call_id.strip()) or 1


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


def _attr_fields(body: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in body.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields


@dataclass(eq=False, slots=True)
class Destination:
    """One destination of a set with its run-time state bits."""

    set_id: int
    uri: str
    state: int
    priority: int
    attrs: str = ""
    description: str = ""
    dest: tuple[str, str, int] | None = None  # (proto, host, port) to send to
    weight: int = 0
    failures: int = field(default=0, repr=False)  # Kamailio's message_count
    host: str = ""  # as written in the URI (dispatcher.list full)
    port: int = 0  # 0 when the URI has none
    transport: str = ""  # the URI's transport parameter, lower case
    resolved_at: float = 0.0  # unix time of the load (DNS lookup)

    @property
    def flags(self) -> str:
        """Kamailio's two letters: I/D/T/A, then P (probing) or X."""
        s = self.state
        if s & DS_INACTIVE:
            first = "I"
        elif s & DS_DISABLED:
            first = "D"
        elif s & DS_TRYING:
            first = "T"
        else:
            first = "A"
        return first + ("P" if s & DS_PROBING else "X")

    @property
    def usable(self) -> bool:
        """Eligible for selection: neither inactive nor disabled (trying is)."""
        return not self.state & (DS_INACTIVE | DS_DISABLED)


@dataclass(eq=False, slots=True)
class _Set:
    id: int
    dests: list[Destination]
    last: int = 0  # next round-robin index
    wlist: list[int] = field(default_factory=list)  # weight slots (algorithm 9)
    wlast: int = 0


def _resolve(uri: SipURI) -> tuple[str, str, int] | None:
    """Where to send to ``uri``: an IP host as is, a name resolved once (at load, as the
    module does with its default DNS mode)."""
    dest = dest_of_uri(uri)
    if dest is not None or uri.maddr:
        return dest
    try:
        infos = socket.getaddrinfo(uri.host, None, type=socket.SOCK_DGRAM)
    except OSError:
        log.warning("dispatcher: cannot resolve %s", uri.host)
        return None
    proto = uri.transport or ("tcp" if uri.secure else "udp")
    if proto not in ("udp", "tcp") or not infos:
        return None
    return proto, str(infos[0][4][0]), uri.port or 5060


def _post_order(ids: list[int]) -> list[int]:
    """Set ids in the order ``dispatcher.list`` prints them: the post-order (left, right,
    node) of an AVL tree built by inserting ``ids`` in turn. A node is a list
    ``[id, left, right, height]``."""

    def height(n: Any) -> int:
        return n[3] if n else 0

    def fix(n: Any) -> Any:
        n[3] = 1 + max(height(n[1]), height(n[2]))
        return n

    def rotate(n: Any, left: bool) -> Any:
        a, b = (2, 1) if left else (1, 2)
        top = n[a]
        n[a] = top[b]
        top[b] = fix(n)
        return fix(top)

    def insert(n: Any, key: int) -> Any:
        if not n:
            return [key, None, None, 1]
        if key == n[0]:
            return n
        side = 2 if key > n[0] else 1
        n[side] = insert(n[side], key)
        fix(n)
        balance = height(n[1]) - height(n[2])
        if balance > 1:
            if key > n[1][0]:
                n[1] = rotate(n[1], left=True)
            return rotate(n, left=False)
        if balance < -1:
            if key < n[2][0]:
                n[2] = rotate(n[2], left=False)
            return rotate(n, left=True)
        return n

    root = None
    for key in ids:
        root = insert(root, key)
    out: list[int] = []

    def walk(n: Any) -> None:
        if n:
            walk(n[1])
            walk(n[2])
            out.append(n[0])

    walk(root)
    return out


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
    ) -> None:
        self.database = database
        self.settings = settings or DispatcherSettings()
        self.codes, self.classes = parse_reply_codes(self.settings.ping_reply_codes)
        self.ping_active = True
        self._sets: dict[int, _Set] = {}
        self._rng = rng or random.Random()
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
        self.replace(rows)

    def replace(self, rows: list[tuple[int, str, int, int, str, str]]) -> None:
        """New sets from ``(setid, uri, flags, priority, attrs, description)`` rows in
        table order; a URI that does not parse is skipped (logged), as Kamailio does."""
        grouped: dict[int, list[Destination]] = {}
        for set_id, uri, flags, priority, attrs, description in rows:
            dst = self._destination(int(set_id), str(uri), int(flags), int(priority), attrs,
                                    description)  # fmt: skip
            if dst is not None:
                grouped.setdefault(dst.set_id, []).append(dst)
        sets: dict[int, _Set] = {}
        for set_id in _post_order(list(grouped)):
            # stable sort on -priority of the reversed rows: equal priorities, last row first
            dests = sorted(reversed(grouped[set_id]), key=lambda d: -d.priority)
            sets[set_id] = _Set(set_id, dests, wlist=self._weights(dests))
        self._sets = sets

    def _destination(
        self, set_id: int, uri: str, flags: int, priority: int, attrs: str, description: str
    ) -> Destination | None:
        try:
            parsed = parse_uri(uri)
        except ParseError:
            try:  # Kamailio adds a missing "sip:" and tries again
                parsed = parse_uri("sip:" + uri)
                uri = "sip:" + uri
            except ParseError:
                log.warning("dispatcher: skipping bad URI %r in set %d", uri, set_id)
                return None
        if not isinstance(parsed, SipURI):
            log.warning("dispatcher: skipping non-SIP URI %r in set %d", uri, set_id)
            return None
        try:
            weight = int(_attr_fields(attrs).get("weight", "0"))
        except ValueError:
            weight = 0
        if not 1 <= weight <= 100:  # Kamailio ignores weights out of 1..100
            weight = 0
        return Destination(
            set_id, uri, flags & DS_STATES_ALL, priority, attrs, description,
            _resolve(parsed), weight, 0, parsed.host, parsed.port or 0,
            (parsed.transport or "").lower(), time.time(),
        )  # fmt: skip

    def _weights(self, dests: list[Destination]) -> list[int]:
        """Algorithm 9's 100 slots: each destination's index ``weight`` times (the rest go
        to the last one), shuffled; all zeros when the first has no weight."""
        if not dests or dests[0].weight == 0:
            return [0] * _WEIGHT_SLOTS
        slots: list[int] = []
        for i, d in enumerate(dests):
            slots.extend([i] * d.weight)
        slots = slots[:_WEIGHT_SLOTS]
        slots.extend([len(dests) - 1] * (_WEIGHT_SLOTS - len(slots)))
        self._rng.shuffle(slots)
        return slots

    def sets(self) -> dict[int, list[Destination]]:
        """``{set_id: destinations}`` in ``dispatcher.list`` order (see module docstring)."""
        return {s.id: s.dests for s in self._sets.values()}

    def destinations(self) -> Iterator[Destination]:
        for s in self._sets.values():
            yield from s.dests

    def find(self, set_id: int, uri: str) -> Destination | None:
        """The destination ``uri`` of set ``set_id`` (URIs compare case-insensitively)."""
        s = self._sets.get(set_id)
        if s is None:
            return None
        wanted = uri.lower()
        return next((d for d in s.dests if d.uri.lower() == wanted), None)

    # ------------------------------------------------------------------ states

    def set_state(self, state: str, set_id: int, uri: str) -> bool:
        """``dispatcher.set_state``: ``state`` as :func:`canonical_state` returns it,
        ``uri`` a destination or ``all``; the state bits are replaced, counters kept.
        False when nothing matched."""
        letters = canonical_state(state)
        if letters is None:
            return False
        bits = state_bits(letters)
        if uri == "all":
            s = self._sets.get(set_id)
            targets = s.dests if s is not None else []
        else:
            dst = self.find(set_id, uri)
            targets = [dst] if dst is not None else []
        for dst in targets:
            dst.state = (dst.state & ~DS_STATES_ALL) | bits
        return bool(targets)

    def update_state(self, set_id: int, uri: str, state: int) -> bool:
        """``ds_update_state``: what ``ds_mark_dst`` and probe results do, with the
        thresholds. False when the destination is not there (any more)."""
        dst = self.find(set_id, uri)
        if dst is None:
            return False
        old = dst.state
        asked = state
        if state & DS_TRYING and old & DS_INACTIVE:
            # inactive stays inactive: it has to become active before it can be "trying"
            state = (state & ~DS_TRYING) | DS_INACTIVE
        new = old & ~DS_STATES_ALL
        new |= DS_DISABLED if state & DS_DISABLED else state
        if state & DS_TRYING:
            dst.failures += 1
            if dst.failures >= self.settings.probing_threshold:
                new = (new & ~DS_TRYING) | DS_INACTIVE
                dst.failures = 0
        elif not asked & DS_TRYING and old & DS_INACTIVE:
            dst.failures += 1  # a success while inactive: count towards the threshold
            if dst.failures < self.settings.inactive_threshold:
                new |= DS_INACTIVE | (old & DS_PROBING)
            else:
                dst.failures = 0
        else:
            dst.failures = 0
        dst.state = new
        if dst.usable != (not old & (DS_INACTIVE | DS_DISABLED)):
            log.info("dispatcher: %s in set %d is now %s", uri, set_id, dst.flags)
        return True

    def mark(self, dst: Destination, state: str = "ip") -> bool:
        """``ds_mark_dst(state)`` for a destination a call was sent to."""
        letters = canonical_state(state)
        if letters is None:
            raise ValueError(f"bad dispatcher state {state!r}")
        return self.update_state(dst.set_id, dst.uri, state_bits(letters))

    # ------------------------------------------------------------------ selection

    def select(self, set_id: int, alg: int, call_id: str = "") -> list[Destination] | None:
        """``ds_select_dst(set_id, alg)``: the chosen destination first, then the failover
        list; None when the set is missing or nothing in it is usable."""
        s = self._sets.get(set_id)
        if s is None or not s.dests:
            return None
        dests = s.dests
        n = len(dests)
        round_robin = alg == 4
        if alg == 0:
            h = call_id_hash(call_id)
        elif round_robin:
            h = s.last
            s.last = (s.last + 1) % n
        elif alg == 9:
            h = s.wlist[s.wlast]
            s.wlast = (s.wlast + 1) % _WEIGHT_SLOTS
        else:  # 8, and (as Kamailio warns) anything not implemented: the first entry
            h = 0
        start = i = h % n
        while not dests[i].usable:
            i = (i + 1) % n
            if i == start:
                return None
        if round_robin:
            s.last = (i + 1) % n  # next time: after the one actually used
        return [dests[i], *(d for d in dests[i + 1 :] if d.usable)] + [
            d for d in dests[:i] if d.usable
        ]

    # ------------------------------------------------------------------ probing

    def start(
        self, timers: Any, probe: Callable[[Destination, Callable[[int], None]], None]
    ) -> None:
        """Probe every ``ping_interval`` seconds (the first round one interval after the
        start, as Kamailio's timer) with ``probe(destination, done)``."""
        self._timers, self._probe = timers, probe
        if self.settings.ping_interval > 0:
            self._timer = timers.call_later(self.settings.ping_interval, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

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
                self._probe(dst, self._on_result(dst.set_id, dst.uri))
        return sent

    def _tick(self) -> None:
        self._timer = self._timers.call_later(self.settings.ping_interval, self._tick)
        self.probe_now()

    def _on_result(self, set_id: int, uri: str) -> Callable[[int], None]:
        def done(status: int) -> None:
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
