"""Kamailio's lcr gateway selection (``load_gws``) as a pure function of the lcr tables.

As Kamailio 5.6's lcr module selects for a request URI user, a From URI and a request
URI in one ``lcr_id``:

* rules are tried by prefix length, longest first; a rule applies when its ``prefix``
  starts the URI user, its ``from_uri`` regex (if any) is found in the From URI, its
  ``request_uri`` regex (if any) in the request URI, and its ``mt_tvalue`` (if any, and
  a From URI was given) is among the mtree values of the From user;
* each applying rule contributes its targets, except defunct and inactive gateways;
  a rule with ``stopper`` ends the search after it; disabled rules were never loaded;
* the gateways are ordered by prefix length (longer first), then priority (lower first),
  then ``weight x random`` (bigger first), and each gateway is kept once, where it
  ranks best.

Rules of one prefix are tried in reverse load order (the module inserts each at the
head of its hash chain); this only matters with ``stopper``. The load order is the
database's (see :func:`kamtool.core.lcr.rules_in_load_order`), not the rule ids'. A rule with a
``request_uri`` pattern when no request URI is given makes Kamailio's whole selection
fail, as here (:class:`LcrError`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kamtool.core.pcre import PcreError, compile_pcre

SCHEMES = {1: "sip", 2: "sips"}
TRANSPORTS = {1: "udp", 2: "tcp", 3: "tls", 4: "sctp"}
MAX_PREFIX = 16


class LcrError(ValueError):
    """A row Kamailio would refuse, or a selection it would fail."""


@dataclass
class Gateway:
    """One ``lcr_gw`` row."""

    id: int
    lcr_id: int
    gw_name: str | None = None
    ip_addr: str | None = None
    hostname: str | None = None
    port: int | None = None
    params: str | None = None
    uri_scheme: int | None = None
    transport: int | None = None
    strip: int | None = None
    prefix: str | None = None
    tag: str | None = None
    flags: int = 0
    defunct: int | None = None

    @property
    def uri(self) -> str:
        """The gateway's address as a URI (host name, else IP; port; params; transport)."""
        scheme = SCHEMES.get(self.uri_scheme or 1, "sip")
        host = self.hostname or _bracketed(self.ip_addr) or "0.0.0.0"
        port = f":{self.port}" if self.port else ""
        transport = f";transport={TRANSPORTS[self.transport]}" if self.transport else ""
        return f"{scheme}:{host}{port}{self.params or ''}{transport}"

    def next_hop(self, ruri_user: str, *, keep_user: bool = False) -> tuple[str, str | None]:
        """The request URI and destination URI ``next_gw()`` sets for a call to
        ``ruri_user`` (``keep_user``: the ``dont_strip_or_prefix_flag`` is set)."""
        return next_hop(
            SCHEMES.get(self.uri_scheme or 1, "sip") + ":", self.ip_addr or "",
            self.hostname or "", str(self.port or ""), self.params or "",
            f";transport={TRANSPORTS[self.transport]}" if self.transport else "",
            0 if keep_user else (self.strip or 0), "" if keep_user else (self.prefix or ""),
            ruri_user,
        )  # fmt: skip


def _bracketed(ip: str | None) -> str:
    return f"[{ip}]" if ip and ":" in ip else (ip or "")


def next_hop(
    scheme: str, ip: str, hostname: str, port: str, params: str, transport: str,
    strip: int, prefix: str, ruri_user: str,
) -> tuple[str, str | None]:  # fmt: skip
    """lcr's URIs for one gateway: the user loses ``strip`` characters and gains ``prefix``.
    With an IP address and a host name, the request URI names the host (with params, no
    port) and the destination URI the IP (port, transport); with one of them, the request
    URI holds host, port, transport and then params, and there is no destination URI.
    Kamailio fails the call when ``strip`` is longer than the user (LcrError here)."""
    if strip > len(ruri_user):
        raise LcrError(f"strip count {strip} is larger than the user '{ruri_user}'")
    user = prefix + ruri_user[strip:]
    port_part = f":{port}" if port and port != "0" else ""
    if ip and hostname:
        return (
            f"{scheme}{user}@{hostname}{params}",
            f"{scheme}{_bracketed(ip)}{port_part}{transport}",
        )
    host = _bracketed(ip) if ip else hostname
    return f"{scheme}{user}@{host}{port_part}{transport}{params}", None


@dataclass
class LcrRule:
    """One enabled ``lcr_rule`` row with its targets ``(gw_id, priority, weight)``."""

    id: int
    lcr_id: int
    prefix: str = ""
    from_uri: str | None = None
    request_uri: str | None = None
    mt_tvalue: str | None = None
    stopper: int = 0
    targets: list[tuple[int, int, int]] = field(default_factory=list)
    _from: re.Pattern[str] | None = field(default=None, repr=False)
    _ruri: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.prefix) > MAX_PREFIX:
            raise LcrError(f"rule {self.id}: prefix longer than {MAX_PREFIX}")
        self._from = compile_pattern(self.from_uri, f"rule {self.id} from_uri")
        self._ruri = compile_pattern(self.request_uri, f"rule {self.id} request_uri")


def compile_pattern(pattern: str | None, what: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return compile_pcre(pattern)
    except PcreError as exc:
        raise LcrError(f"{what} '{pattern}' {exc}") from None


@dataclass(frozen=True)
class Selected:
    """A gateway chosen for a call, with the rule and target that brought it."""

    gateway: Gateway
    rule_id: int
    prefix_len: int
    priority: int
    weight: int


class Lcr:
    """The gateways and enabled rules of every lcr_id."""

    def __init__(self, gateways: Iterable[Gateway], rules: Iterable[LcrRule]) -> None:
        """``rules`` in the order Kamailio loads them (the database's)."""
        self.gateways = {g.id: g for g in gateways}
        self.rules: dict[int, list[LcrRule]] = {}
        # lcr_id -> prefix -> rules in the order they are tried (reverse load order)
        self._by_prefix: dict[int, dict[str, list[LcrRule]]] = {}
        self._lengths: dict[int, list[int]] = {}
        for rule in rules:  # in load order
            self.rules.setdefault(rule.lcr_id, []).append(rule)
            self._by_prefix.setdefault(rule.lcr_id, {}).setdefault(rule.prefix, []).insert(0, rule)
        for lcr_id, by_prefix in self._by_prefix.items():
            self._lengths[lcr_id] = sorted({len(p) for p in by_prefix}, reverse=True)

    @classmethod
    def from_rows(
        cls,
        gws: Iterable[Mapping[str, Any]],
        rules: Iterable[Mapping[str, Any]],
        targets: Iterable[Mapping[str, Any]],
    ) -> Lcr:
        gateways = [
            Gateway(**{k: g[k] for k in Gateway.__dataclass_fields__ if k in g}) for g in gws
        ]
        by_rule: dict[int, list[tuple[int, int, int]]] = {}
        for t in sorted(targets, key=lambda t: t["id"]):
            by_rule.setdefault(t["rule_id"], []).append((t["gw_id"], t["priority"], t["weight"]))
        loaded = [
            LcrRule(
                id=r["id"], lcr_id=r["lcr_id"], prefix=r.get("prefix") or "",
                from_uri=r.get("from_uri"), request_uri=r.get("request_uri"),
                mt_tvalue=r.get("mt_tvalue"), stopper=r.get("stopper") or 0,
                targets=by_rule.get(r["id"], []),
            )
            for r in rules
            if r.get("enabled", 1)
        ]  # fmt: skip
        return cls(gateways, loaded)

    def select(
        self,
        lcr_id: int,
        uri_user: str,
        from_uri: str = "",
        request_uri: str = "",
        *,
        now: float = 0,
        inactive: Iterable[int] = (),
        mt_values: Callable[[str], list[str]] | None = None,
        rng: Callable[[], int] | None = None,
    ) -> list[Selected]:
        """The gateways for a call, best first (``load_gws``); ``now`` compares with
        ``defunct`` (a time until which a gateway is out), ``inactive`` are gateway ids
        that failed their pings, ``mt_values(user)`` gives the mtree values of the From
        user and ``rng`` draws the 23-bit random numbers that scale the weights."""
        draw = rng or (lambda: random.getrandbits(31) >> 8)
        off = set(inactive)
        by_prefix = self._by_prefix.get(lcr_id, {})
        from_user = _uri_user(from_uri)
        found: list[Selected] = []
        for length in self._lengths.get(lcr_id, []):
            if len(uri_user) < length:
                continue
            for rule in by_prefix.get(uri_user[:length], ()):
                if rule._from is not None and not rule._from.search(from_uri):
                    continue
                if from_uri and rule.mt_tvalue:
                    values = mt_values(from_user) if mt_values is not None else []
                    if rule.mt_tvalue not in values:
                        continue
                if rule._ruri is not None:
                    if not request_uri:
                        raise LcrError(
                            f"rule {rule.id} has a request_uri pattern and no request URI was given"
                        )
                    if not rule._ruri.search(request_uri):
                        continue
                for gw_id, priority, weight in rule.targets:
                    gw = self.gateways.get(gw_id)
                    if gw is None or gw_id in off or (gw.defunct or 0) > now:
                        continue
                    found.append(Selected(gw, rule.id, length, priority, weight * draw()))
                if rule.stopper:
                    return _ranked(found)
        return _ranked(found)


def _uri_user(uri: str) -> str:
    m = re.match(r"^(?:sips?:)?([^@;?]*)@", uri.strip("<>"), re.IGNORECASE)
    return m.group(1) if m else ""


def _ranked(found: list[Selected]) -> list[Selected]:
    ordered = sorted(found, key=lambda s: (-s.prefix_len, s.priority, -s.weight))
    seen: set[int] = set()
    best = []
    for s in ordered:
        if s.gateway.id not in seen:
            seen.add(s.gateway.id)
            best.append(s)
    return best
