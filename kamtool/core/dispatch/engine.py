"""Dispatcher sets and Kamailio 5.6's selection (``ds_manage_routes``), without I/O.

* A set's destinations are in Kamailio's order: highest priority first, equal priorities
  with the row loaded last first (the module inserts into an ascending list and copies it
  backwards).
* :meth:`DsEngine.select` is ``ds_select_dst/domain/routes(set, alg[, limit])``: a start
  index from the algorithm, then the first usable destination from there on (wrapping);
  with failover on (module flag 2) the list ``ds_next_dst`` walks: the chosen one, the
  usable ones after it, then those before it (algorithm 13: all usable ones by their
  latency-adjusted priority), at most ``limit`` entries.
* Weights (9) and relative weights (11) are tables of 100 slots shuffled once (relative
  weights again when a destination goes up or down); Kamailio's random numbers are its own,
  so those algorithms agree with it in distribution, not call by call.
* Call load (10): the least loaded usable destination under its ``maxload``; the load is
  kept per Call-ID with the destination's ``duid`` until BYE/CANCEL or :meth:`load_unset`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

from kamtool.core.dispatch.attrs import parse_attrs
from kamtool.core.dispatch.hashing import HashError, digest_user, hash_string, uri_hash
from kamtool.core.dispatch.latency import LatencyStats
from kamtool.core.dispatch.model import (
    DS_FAILOVER_ON,
    DS_HASH_USER_ONLY,
    MATCH_ACTIVE,
    MATCH_NOPORT,
    MATCH_NOPROTO,
    PROTO_IDS,
    SLOTS,
    DsDest,
    DsParams,
    DsRequest,
    DsSet,
    Load,
    MissingInput,
    SelectError,
    Selection,
    skipped,
)
from kamtool.core.dispatch.order import avl_post_order
from kamtool.core.dispatch.resolve import is_ip
from kamtool.core.dispatch.state import LoadsAndStates

__all__ = ["DsEngine", "parse_routes"]


def _uri_parts(uri: str) -> tuple[str, int, int]:
    """(host, port as written or 0, proto id) of a destination URI."""
    from kamtool.sip.uri import parse_uri

    parsed = parse_uri(uri)
    proto = PROTO_IDS.get(str(getattr(parsed, "params", {}).get("transport") or "").lower(), 0)
    return str(getattr(parsed, "host", "")), int(getattr(parsed, "port", 0) or 0), proto


class DsEngine(LoadsAndStates):
    """All sets; one instance per loaded table (a reload builds a new one and may carry
    the call loads over with :meth:`adopt_loads`)."""

    def __init__(
        self,
        rows: Iterable[tuple[int, str, int, int, str, str]] = (),
        params: DsParams | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.params = params or DsParams()
        self.rng = rng or random.Random()
        self.sets: dict[int, DsSet] = {}
        self.loads: dict[str, Load] = {}  # Call-ID -> the destination it loads
        self.skipped_rows: list[tuple[int, str, str]] = []  # (set, uri, why)
        grouped: dict[int, list[DsDest]] = {}
        for n, (set_id, uri, flags, priority, attrs, description) in enumerate(rows):
            dest = self._dest(int(set_id), str(uri), int(flags or 0), int(priority or 0),
                              attrs or "", description or "")  # fmt: skip
            if dest is not None:
                dest.row = n
                grouped.setdefault(dest.set_id, []).append(dest)
        for set_id, dests in grouped.items():
            ordered = sorted(reversed(dests), key=lambda d: -d.priority)  # stable
            dset = DsSet(set_id, ordered)
            self._init_weights(dset)
            self._init_rweights(dset)
            self.sets[set_id] = dset

    def _dest(
        self, set_id: int, uri: str, flags: int, priority: int, attrs: str, description: str
    ) -> DsDest | None:
        from kamtool.sip.errors import ParseError

        try:
            host, port, proto = _uri_parts(uri)
        except ParseError:
            if uri.startswith("sip:"):
                self.skipped_rows.append((set_id, uri, "bad URI"))
                return None
            try:  # Kamailio adds a missing "sip:" and tries again
                host, port, proto = _uri_parts("sip:" + uri)
                uri = "sip:" + uri
            except ParseError:
                self.skipped_rows.append((set_id, uri, "bad URI"))
                return None
        parsed = parse_attrs(attrs)
        dest = DsDest(set_id, uri, flags, priority, parsed, description, host=host,
                      port=port, proto=proto)  # fmt: skip
        if parsed.latency is not None:
            dest.latency = LatencyStats.initial(parsed.latency)
        if is_ip(host):
            dest.address = host.strip("[]")  # names: kamtool.core.dispatch.resolve
        return dest

    # ------------------------------------------------------------------ weights

    def _init_weights(self, dset: DsSet) -> None:
        """Algorithm 9's slots: index i ``weight`` times, the rest to the last destination;
        only when the first destination has a weight (else all slots stay 0)."""
        dests = dset.dests
        if not dests or dests[0].attrs.weight == 0:
            return
        slots: list[int] = []
        for i, d in enumerate(dests):
            slots.extend([i] * d.attrs.weight)
        slots = slots[:SLOTS] + [len(dests) - 1] * max(0, SLOTS - len(slots))
        self._shuffle(slots)
        dset.wlist = slots

    def _init_rweights(self, dset: DsSet) -> None:
        """Algorithm 11's slots over the usable destinations: ``rweight * 100 // sum``
        each (truncated), the rest to the last one filled; unchanged when the usable
        destinations have no rweight at all (Kamailio keeps the old table then)."""
        dests = dset.dests
        if len(dests) < 2:
            return
        total = sum(d.attrs.rweight for d in dests if d.usable)
        if total == 0:
            return
        slots: list[int] = []
        for i, d in enumerate(dests):
            if d.usable:
                slots.extend([i] * (d.attrs.rweight * 100 // total))
        last = slots[-1] if slots else len(dests) - 1
        slots = slots + [last] * (SLOTS - len(slots))
        self._shuffle(slots)
        dset.rwlist = slots

    def _shuffle(self, slots: list[int]) -> None:
        # Kamailio's shuffle_uint100array: j from 0, swap with j + rand % (100 - j)
        for j in range(SLOTS):
            k = j + self.rng.randrange(SLOTS - j)
            slots[j], slots[k] = slots[k], slots[j]

    # ------------------------------------------------------------------ lookups

    def exists(self, set_id: int) -> bool:
        """``ds_list_exists``."""
        return set_id in self.sets

    def find(self, set_id: int, uri: str) -> DsDest | None:
        """A destination by set and URI (case-insensitive, as Kamailio compares)."""
        dset = self.sets.get(set_id)
        wanted = uri.lower()
        return next((d for d in dset.dests if d.uri.lower() == wanted), None) if dset else None

    def destinations(self) -> Iterator[DsDest]:
        for dset in self.sets.values():
            yield from dset.dests

    def is_from(
        self, ip: str, port: int, proto: str = "", set_id: int = -1, mode: int = MATCH_NOPROTO
    ) -> int | None:
        """``ds_is_from_list``: the set id a destination at (ip, port, proto) belongs to,
        None when none; a destination without a port matches any port."""
        import ipaddress

        try:
            wanted = ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            return None
        proto_id = PROTO_IDS.get(proto.lower(), 0)
        sets = [self.sets[set_id]] if set_id in self.sets else []
        if set_id == -1:
            sets = [self.sets[i] for i in avl_post_order(list(self.sets))]
        for dset in sets:
            for d in dset.dests:
                if d.address is None:
                    continue
                try:
                    same = ipaddress.ip_address(d.address) == wanted
                except ValueError:
                    continue
                if (same and (mode & MATCH_NOPORT or d.port == 0 or d.port == port)
                        and (mode & MATCH_NOPROTO or d.proto == proto_id)
                        and (not mode & MATCH_ACTIVE or d.usable)):  # fmt: skip
                    return dset.id
        return None

    # ------------------------------------------------------------------ selection

    def _wrap(self, n: int) -> int:
        return n - 1 if self.params.use_default and n != 1 else n

    def _start(self, dset: DsSet, alg: int, req: DsRequest) -> tuple[int, int, bool]:
        """(start index before the modulo, the algorithm in effect, round-robin)."""
        flags = self.params.flags
        n = len(dset.dests)
        try:
            if alg == 0:
                return hash_string(req.call_id, "Call-ID"), alg, False
            if alg in (1, 2, 3):
                uri = (req.from_uri, req.to_uri, req.ruri)[alg - 1]
                return uri_hash(uri, flags & DS_HASH_USER_ONLY), alg, False
            if alg == 5 and req.auth_user and digest_user(req.auth_user):
                return hash_string(digest_user(req.auth_user), "user name"), alg, False
            if alg == 7:
                return hash_string(req.pv_value or "", "hash_pvar value"), alg, False
        except HashError as exc:
            raise MissingInput(str(exc)) from None
        if alg in (4, 5):  # 5 without credentials: round-robin
            start = dset.last
            dset.last = (dset.last + 1) % n
            return start, alg, True
        if alg == 6:
            return self.rng.getrandbits(31), alg, False
        if alg == 9:
            start = dset.wlist[dset.wlast]
            dset.wlast = (dset.wlast + 1) % SLOTS
            return start, alg, False
        if alg == 10:
            if req.method.upper() != "INVITE":
                return 0, 0, False  # only an INVITE starts a call: the first entry
            i = self._least_loaded(dset)
            if i < 0:
                raise SelectError(f"every destination of set {dset.id} is at its maxload")
            return i, alg, False
        if alg == 11:
            start = dset.rwlist[dset.rwlast]
            dset.rwlast = (dset.rwlast + 1) % SLOTS
            return start, alg, False
        return 0, alg, False  # 8, 12, and (as Kamailio warns) unknown algorithms

    def select(self, set_id: int, alg: int, req: DsRequest | None = None, limit: int = 0
               ) -> Selection:  # fmt: skip
        """``ds_select_dst(set_id, alg)`` (``limit`` as ``ds_select_dst_limit``, 0 none)."""
        req = req or DsRequest()
        dset = self.sets.get(set_id)
        if dset is None or not dset.dests:
            raise SelectError(f"no dispatcher set {set_id}")
        dests, n = dset.dests, len(dset.dests)
        limit = limit or 0xFFFFFFFF
        if alg == 13:
            return self._select_latency(dset, limit, req.call_id)
        start, alg, round_robin = self._start(dset, alg, req)
        vlast = dset.last
        wrap = self._wrap(n)
        start = start if alg == 10 and start == n - 1 else start % wrap  # see _least_loaded
        i = start
        while skipped(dests[i].flags):
            i = (i + 1) % wrap
            if i == start:
                if not self.params.use_default or skipped(dests[n - 1].flags):
                    raise SelectError(f"no usable destination in set {set_id}")
                i = n - 1
                break
        if round_robin and vlast == dset.last:
            dset.last = (i + 1) % n  # next time: after the one actually used
        chosen = dests[i]
        sel = Selection(set_id, alg, chosen, call_id=req.call_id)
        if alg == 10:
            if not chosen.attrs.duid:
                sel.alg = 0  # Kamailio: no duid, "classic dispatching" (no load kept)
            else:
                self.loads[req.call_id] = Load(set_id, chosen.attrs.duid)
                chosen.dload += 1
        if alg == 12:
            # Kamailio adds a branch for every destination after the chosen one, even
            # inactive or disabled ones (a bug: it forks to dead gateways); we skip those.
            sel.branches = [d for d in dests[i + 1 :] if d.usable]
            return sel
        if not self.params.flags & DS_FAILOVER_ON:
            return sel
        sel.failover = [chosen] + [
            d for j, d in [*enumerate(dests)][i + 1 :] + [*enumerate(dests)][:i]
            if self._in_failover(d, j, n, sel.alg)
        ][: max(0, limit - 1)]  # fmt: skip
        self._append_default(sel, dset, i, limit)
        return sel

    def select_routes(self, rules: str, req: DsRequest | None = None, limit: int = 0
                      ) -> Selection:  # fmt: skip
        """``ds_select_routes("1=4;2=8", mode[, limit])``: each ``set=alg`` in turn; the
        first that selects gives the destination, every one adds its failover records,
        at most ``limit`` in all. A set that selects nothing is skipped, as Kamailio does.

        Kamailio adds each later set's chosen record even once ``limit`` is reached (its
        count only guards the records after it); we keep to the limit."""
        cap = limit or 0xFFFFFFFF
        first: Selection | None = None
        last_error: SelectError | None = None
        for set_id, alg in parse_routes(rules):
            try:
                sel = self.select(set_id, alg, req)
            except SelectError as exc:
                last_error = exc
                continue
            if first is None:
                first = sel
                first.failover = first.failover[:cap]
            else:
                room = max(0, cap - len(first.failover))
                first.failover.extend(sel.failover[:room])
        if first is None:
            raise last_error or SelectError(f"no rules in {rules!r}")
        return first

    def _in_failover(self, d: DsDest, j: int, n: int, alg: int) -> bool:
        if skipped(d.flags) or (self.params.use_default and j == n - 1):
            return False
        return not (alg == 10 and d.attrs.maxload and d.dload >= d.attrs.maxload)

    def _least_loaded(self, dset: DsSet) -> int:
        """The usable destination with the fewest calls under its maxload (-1: none).

        With ``use_default`` Kamailio counts the default destination in, then maps its
        index onto the first one by the modulo and books the call on the default while it
        goes elsewhere (a bug: loads no longer match the calls). We choose among the
        others and take the default only when all of them are full."""
        dests = dset.dests
        n = self._wrap(len(dests))
        best, load = -1, 0x7FFFFFFF
        candidates = list(range(n)) + ([len(dests) - 1] if n < len(dests) else [])
        for j in candidates:
            d = dests[j]
            if d.usable and (d.attrs.maxload == 0 or d.dload < d.attrs.maxload) and d.dload < load:
                best, load = j, d.dload
            if j == n - 1 and best >= 0:
                break  # the default only when nothing else has room
        return best

    def _select_latency(self, dset: DsSet, limit: int, call_id: str) -> Selection:
        """Algorithm 13: from the round-robin position on, each usable destination's
        priority lowered by ``latency // priority`` (at least 1), stably sorted by it."""
        dests, n = dset.dests, len(dset.dests)
        order: list[tuple[int, int]] = []  # (rpriority or -1, index or -1)
        z = dset.last
        seen: set[int] = set()
        for _ in range(n):
            if z in seen:
                # with use_default Kamailio's walk wraps before the default and visits the
                # first destinations twice (they appear twice in its failover list): once
                z = (z + 1) % self._wrap(n)
                continue
            seen.add(z)
            d = dests[z]
            latency = int(d.latency.estimate)
            if d.attrs.cc:
                latency = int(d.latency.estimate - d.latency.average)
            if d.usable:
                handicap = latency // d.priority if latency > d.priority > 0 else 0
                d.rpriority = d.priority - handicap
                if d.rpriority < 1 and d.priority > 0:
                    d.rpriority = 1
                order.append((d.rpriority, z))
            else:
                order.append((-1, -1))
            z = (z + 1) % self._wrap(n)
        order.sort(key=lambda item: -item[0])  # Kamailio's bubble sort is stable too
        first = order[0][1]
        if first < 0:
            raise SelectError(f"no usable destination in set {dset.id}")
        dset.last = (first + 1) % n
        sel = Selection(dset.id, 13, dests[first], call_id=call_id)
        if self.params.flags & DS_FAILOVER_ON:
            sel.failover = [dests[j] for _, j in order if j >= 0
                            and not (self.params.use_default and j == n - 1)][:limit]  # fmt: skip
            self._append_default(sel, dset, first, limit)
        return sel

    def _append_default(self, sel: Selection, dset: DsSet, chosen: int, limit: int) -> None:
        """With ``use_default`` the last destination ends every failover list."""
        n = len(dset.dests)
        if self.params.use_default and chosen != n - 1 and len(sel.failover) < limit:
            sel.failover.append(dset.dests[n - 1])

    def next_dst(self, sel: Selection) -> DsDest | None:
        """``ds_next_dst``/``ds_next_domain``: drop the current record and use the next;
        with call load, the load moves to it (a destination whose duid is gone is
        skipped). None when the list is used up."""
        while len(sel.failover) > 1:
            sel.failover.pop(0)
            nxt = sel.failover[0]
            if sel.alg == 10 and nxt.attrs.duid and not self._load_replace(sel.call_id, nxt):
                continue
            sel.dest = nxt
            return nxt
        sel.failover.clear()
        return None


def parse_routes(rules: str) -> list[tuple[int, int]]:
    """``"1=4;2=8"`` → [(1, 4), (2, 8)] as Kamailio reads the rules (digits only; an
    empty number is 0; anything else is an error)."""
    out: list[tuple[int, int]] = []
    for part in rules.split(";") if rules else []:
        set_text, _, alg_text = part.partition("=")
        if not (set_text + alg_text).isdigit() and (set_text + alg_text) != "":
            raise ValueError(f"invalid character in dispatcher rules {rules!r}")
        out.append((int(set_text or 0), int(alg_text or 0)))
    return out
