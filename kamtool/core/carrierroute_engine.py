"""Kamailio's carrierroute ``cr_route()`` (CRC32 hash algorithm) as a pure function of the
tables (no I/O), for ``kamtool cr select`` and later the proxy.

As Kamailio 5.6 loads and routes (database mode, ``match_mode`` 10):

* each carrier and domain has a digit tree of ``scan_prefix``es; the number to match loses
  its leading non-digits and takes the longest prefix in the tree (a non-digit ends it);
* at that prefix, the first flag set whose ``(message flags & mask) == flags`` decides
  (sets ordered by mask, largest first); its routes are ordered with probability-0 ones
  first (load order), then the others in reverse load order, and each gets a share of
  ``prob x 1000`` "dice" points;
* the CRC32 of the hash source (the Call-ID, From URI ...) modulo the points total picks
  the route: the first whose cumulative points exceed it;
* the new URI is ``sip:`` (``sips:`` for a sips request URI), rewrite_prefix, the user
  without ``strip`` leading characters, rewrite_suffix, ``@``, rewrite_host; an empty user
  gives just the host, an empty host fails the call (a blocklisted destination).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DICE_MAX = 1000


class CarrierRouteError(ValueError):
    """Routing data Kamailio would refuse."""


@dataclass
class CrRoute:
    """One ``carrierroute`` row."""

    id: int
    carrier: int
    domain: int
    scan_prefix: str = ""
    flags: int = 0
    mask: int = 0
    prob: float = 1.0
    strip: int = 0
    rewrite_host: str = ""
    rewrite_prefix: str = ""
    rewrite_suffix: str = ""
    description: str | None = None
    dice_to: int = field(default=0, repr=False)


@dataclass
class CrFailure:
    """One ``carrierfailureroute`` row."""

    id: int
    carrier: int
    domain: int
    scan_prefix: str = ""
    host_name: str = ""
    reply_code: str = ""
    flags: int = 0
    mask: int = 0
    next_domain: int = 0
    description: str | None = None

    def rank(self) -> tuple[bool, int, int]:
        """Kamailio's order: a named host first, then fewer '.' in the code, then mask."""
        return (not self.host_name, self.reply_code.count("."), -self.mask)

    def applies(self, host: str, reply_code: str, flags: int) -> bool:
        code = self.reply_code
        code_ok = not code or (
            len(code) == len(reply_code)
            and all(w in (".", c) for w, c in zip(code, reply_code, strict=True))
        )
        return (flags & self.mask) == self.flags and self.host_name in ("", host) and code_ok


@dataclass
class _FlagSet:
    flags: int
    mask: int
    routes: list[CrRoute] = field(default_factory=list)
    dice_max: int = 0


@dataclass(frozen=True)
class Routed:
    """The outcome of ``cr_route``: the new request URI and the route that made it."""

    uri: str
    route: CrRoute


def _digits_prefix(text: str) -> str:
    i = 0
    while i < len(text) and not text[i].isdigit():
        i += 1
    j = i
    while j < len(text) and text[j].isdigit():
        j += 1
    return text[i:j]


class CarrierRoute:
    """The routing data of every carrier and domain."""

    def __init__(
        self,
        carriers: Mapping[int, str],
        domains: Mapping[int, str],
        routes: Iterable[CrRoute],
        failures: Iterable[CrFailure] = (),
    ) -> None:
        self.carriers = dict(carriers)
        self.domains = dict(domains)
        # (carrier, domain) -> scan_prefix -> flag sets (mask descending)
        self.trees: dict[tuple[int, int], dict[str, list[_FlagSet]]] = {}
        for route in sorted(routes, key=lambda r: r.id):
            if route.scan_prefix and not route.scan_prefix.isdigit():
                raise CarrierRouteError(f"route {route.id}: scan_prefix is not digits")
            sets = self.trees.setdefault((route.carrier, route.domain), {}).setdefault(
                route.scan_prefix, []
            )
            self._add(sets, route)
        for (carrier, domain), tree in self.trees.items():
            for sets in tree.values():
                for flag_set in sets:
                    self._dice(flag_set, carrier, domain)
        # (carrier, domain) -> scan_prefix -> failure rules in the order they are tried
        self.failures: dict[tuple[int, int], dict[str, list[CrFailure]]] = {}
        for rule in sorted(failures, key=lambda r: r.id):
            if rule.scan_prefix and not rule.scan_prefix.isdigit():
                raise CarrierRouteError(f"failure route {rule.id}: scan_prefix is not digits")
            rules = self.failures.setdefault((rule.carrier, rule.domain), {}).setdefault(
                rule.scan_prefix, []
            )
            # before the first rule that does not rank above it (equals: newest first)
            at = next((i for i, r in enumerate(rules) if rule.rank() <= r.rank()), len(rules))
            rules.insert(at, rule)

    @staticmethod
    def _add(sets: list[_FlagSet], route: CrRoute) -> None:
        target = next((s for s in sets if s.flags == route.flags and s.mask == route.mask), None)
        if target is None:
            target = _FlagSet(route.flags, route.mask)
            at = next((i for i, s in enumerate(sets) if s.mask < route.mask), len(sets))
            sets.insert(at, target)
        zeros = sum(1 for r in target.routes if r.prob == 0)
        # zero-probability routes first (load order), the others in reverse load order
        target.routes.insert(zeros, route)

    @staticmethod
    def _dice(flag_set: _FlagSet, carrier: int, domain: int) -> None:
        total = 0
        for route in flag_set.routes:  # C: int += double, truncated
            total = int(total + route.prob * DICE_MAX)
        flag_set.dice_max = total
        points = 0
        for route in flag_set.routes:
            route.dice_to = int(route.prob * DICE_MAX + points)
            points = route.dice_to

    @classmethod
    def from_rows(
        cls,
        carriers: Iterable[Mapping[str, Any]],
        domains: Iterable[Mapping[str, Any]],
        routes: Iterable[Mapping[str, Any]],
        failures: Iterable[Mapping[str, Any]] = (),
    ) -> CarrierRoute:
        return cls(
            {c["id"]: c["carrier"] for c in carriers},
            {d["id"]: d["domain"] for d in domains},
            [CrRoute(**{k: r[k] for k in CrRoute.__dataclass_fields__ if k in r and k != "dice_to"})
             for r in routes],
            [CrFailure(**{k: r[k] for k in CrFailure.__dataclass_fields__ if k in r})
             for r in failures],
        )  # fmt: skip

    def next_domain(
        self,
        carrier: int | str,
        domain: int | str,
        prefix_matching: str,
        host: str,
        reply_code: str,
        *,
        flags: int = 0,
    ) -> CrFailure | None:
        """``cr_next_domain``: the failure rule (its ``next_domain``) for a call to
        ``prefix_matching`` that ``host`` answered with ``reply_code``: at the longest
        matching prefix, the first rule whose host (or none), code pattern ('.' any digit,
        or none) and flags/mask fit. None when no rule does."""
        key = (
            self._id(self.carriers, carrier, "carrier"),
            self._id(self.domains, domain, "domain"),
        )
        tree = self.failures.get(key)
        if not tree:
            return None
        number = _digits_prefix(prefix_matching)
        found = next((number[:n] for n in range(len(number), -1, -1) if number[:n] in tree), None)
        if found is None:
            return None
        return next((r for r in tree[found] if r.applies(host, reply_code, flags)), None)

    def _id(self, names: Mapping[int, str], value: int | str, what: str) -> int:
        if isinstance(value, int) or str(value).isdigit():
            return int(value)
        for number, name in names.items():
            if name == value:
                return number
        raise CarrierRouteError(f"no {what} named {value!r}")

    def route(
        self,
        carrier: int | str,
        domain: int | str,
        prefix_matching: str,
        rewrite_user: str,
        hash_value: str,
        *,
        flags: int = 0,
        sips: bool = False,
    ) -> Routed | None:
        """``cr_route(carrier, domain, prefix_matching, rewrite_user, <source>, crc32)``:
        ``hash_value`` is the text of the hash source (e.g. the Call-ID); None when
        nothing routes (no prefix, no flag set, all probabilities 0, no host)."""
        key = (
            self._id(self.carriers, carrier, "carrier"),
            self._id(self.domains, domain, "domain"),
        )
        tree = self.trees.get(key)
        if not tree:
            return None
        number = _digits_prefix(prefix_matching)
        found = next((number[:n] for n in range(len(number), -1, -1) if number[:n] in tree), None)
        if found is None:
            return None
        flag_set = next((s for s in tree[found] if flags & s.mask == s.flags), None)
        if flag_set is None or not flag_set.routes or flag_set.dice_max == 0:
            return None
        dice = (zlib.crc32(hash_value.encode()) & 0xFFFFFFFF) % flag_set.dice_max
        chosen = flag_set.routes[-1]
        for route in flag_set.routes:
            if route.dice_to > dice:
                chosen = route
                break
        if not chosen.rewrite_host:
            return None
        scheme = "sips:" if sips else "sip:"
        if not rewrite_user or rewrite_user == "<null>":
            return Routed(f"{scheme}{chosen.rewrite_host}", chosen)
        user = rewrite_user[min(chosen.strip, len(rewrite_user)) :]
        uri = f"{scheme}{chosen.rewrite_prefix}{user}{chosen.rewrite_suffix}@{chosen.rewrite_host}"
        return Routed(uri, chosen)
