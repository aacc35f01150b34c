"""The Via header value (:class:`Via`) and RFC 3261 branch identifiers."""

from __future__ import annotations

import hashlib
import re

from . import _abnf
from .errors import ParseError
from .params import _format_params, parse_params, split_list
from .uri import _check_ipv6, format_host

__all__ = ["MAGIC_COOKIE", "Via", "make_branch", "parse_via", "parse_via_list"]

#: RFC 3261 section 7.3.3 branch prefix of RFC 3261 transactions.
MAGIC_COOKIE = "z9hG4bK"

_VIA_RE = re.compile(
    rf"({_abnf.token}){_abnf.SWS}/{_abnf.SWS}({_abnf.token}){_abnf.SWS}/{_abnf.SWS}({_abnf.token})"
    rf"{_abnf.LWS}({_abnf.IPv6reference}|{_abnf.hostname})(?:{_abnf.SWS}:{_abnf.SWS}(\d{{1,5}}))?"
    r"(.*)\Z",
    re.S,
)


class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;received=...;rport``.

    Attributes: ``transport`` (upper case, "UDP"/"TCP"/"TLS"/"SCTP"/"WS" ...), ``protocol``
    ("SIP/2.0"), ``host`` (IPv6 without brackets), ``port`` (int or None), ``params``
    (dict lower name -> value or None). Properties give ``branch``, ``received``,
    ``rport``, ``maddr``, ``ttl``.
    """

    __slots__ = ("_raw", "host", "params", "port", "protocol", "transport")

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        *,
        protocol: str = "SIP/2.0",
        _raw: str | None = None,
    ) -> None:
        if host.startswith("["):
            host = host[1:-1]
        self.transport = transport.upper()
        self.host = host
        self.port = port
        self.params = params if params is not None else {}
        self.protocol = protocol
        self._raw = _raw

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        r = self.params.get("received")
        if r and r.startswith("["):
            r = r[1:-1]
        return r

    @property
    def has_rport(self) -> bool:
        """True when ``rport`` is present, with or without a value (RFC 3581)."""
        return "rport" in self.params

    @property
    def rport(self) -> int | None:
        """The rport value, None when absent or empty (request-side ``;rport``)."""
        v = self.params.get("rport")
        return int(v) if v and v.isdigit() else None

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def ttl(self) -> int | None:
        v = self.params.get("ttl")
        return int(v) if v and v.isdigit() else None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """(host, port) as the sender wrote them."""
        return self.host, self.port

    @property
    def is_rfc3261(self) -> bool:
        """True when the branch starts with the magic cookie (else use RFC 2543 matching)."""
        b = self.params.get("branch")
        return b is not None and b.startswith(MAGIC_COOKIE)

    def response_address(self, default_port: int = 5060) -> tuple[str, int]:
        """Where responses go (RFC 3261 18.2.2 + RFC 3581): maddr, received, rport, sent-by."""
        host = self.maddr or self.received or self.host
        port = self.rport or self.port or default_port
        return host, port

    def with_params(self, **params: str | int | None) -> Via:
        """Copy with parameters set (``via.with_params(received="192.0.2.1", rport=5060)``).

        The text as received is kept and extended where that is plain (a new parameter
        appended, a bare ``;rport`` given its value: what a proxy does to every request
        it receives); otherwise the copy is written anew from its parts."""
        merged = dict(self.params)
        raw = self._raw if self._raw is not None and '"' not in self._raw else None
        for k, v in params.items():
            k = k.lower()
            v = None if v is None else str(v)
            if raw is not None:
                if k not in merged:
                    raw += f";{k}" if v is None else f";{k}={v}"
                elif merged[k] is None and v is not None:
                    raw = _give_value(raw, k, v)
                elif merged[k] != v:
                    raw = None
            merged[k] = v
        return Via(self.transport, self.host, self.port, merged, protocol=self.protocol, _raw=raw)

    def without_params(self, *names: str) -> Via:
        drop = {n.lower() for n in names}
        kept = {k: v for k, v in self.params.items() if k not in drop}
        return Via(self.transport, self.host, self.port, kept, protocol=self.protocol)

    def __str__(self) -> str:
        if self._raw is None:
            hp = format_host(self.host)
            if self.port is not None:
                hp = f"{hp}:{self.port}"
            self._raw = f"{self.protocol}/{self.transport} {hp}{_format_params(self.params)}"
        return self._raw

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return f"Via({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Via):
            return NotImplemented
        return (
            self.transport == other.transport
            and self.host.lower() == other.host.lower()
            and self.port == other.port
            and self.protocol.upper() == other.protocol.upper()
            and self.params == other.params
        )

    __hash__ = None  # type: ignore[assignment]


def _give_value(raw: str, name: str, value: str) -> str | None:
    """``raw`` with its one bare ``;name`` parameter given ``value`` (``;rport`` ->
    ``;rport=5060``); None when the text is not that plain (blanks, another such name)."""
    tag = ";" + name
    low = raw.lower()
    i = low.find(tag)
    end = i + len(tag)
    if i < 0 or (end < len(raw) and raw[end] != ";") or low.find(tag, end) >= 0:
        return None
    return f"{raw[:end]}={value}{raw[end:]}"


# the usual Via in one match: SIP/2.0, a host name or IPv4 address, token parameters, no
# blanks; anything else (IPv6, quoted or host-valued parameters, LWS) takes _VIA_RE
_FAST_VIA_RE = re.compile(
    rf"SIP/2\.0/({_abnf.token}) ({_abnf.hostname})(?::(\d{{1,5}}))?"
    rf"((?:;{_abnf.token}(?:={_abnf.token})?)*)\Z"
)


def parse_via(value: str) -> Via:
    """Parse one Via value (no commas). Raises :class:`ParseError`."""
    m = _FAST_VIA_RE.match(value)
    fast = m is not None
    if fast:
        name, version = "SIP", "2.0"
        transport, host, port_s, ptext = m.groups()
    else:
        m = _VIA_RE.match(value)
        if m is None:
            raise ParseError("Bad Via header")
        name, version, transport, host, port_s, ptext = m.groups()
        if host[0] == "[":
            host = _check_ipv6(host[1:-1], "Via")
    port = None
    if port_s is not None:
        port = int(port_s)
        if port > 65535:
            raise ParseError("Bad Via port")
    params: dict[str, str | None] = {}
    if fast:
        if ptext:
            for part in ptext[1:].split(";"):
                pname, eq, pvalue = part.partition("=")
                params[pname.lower()] = pvalue if eq else None
    elif ptext.strip():
        params = parse_params(ptext, "Via")
    if '"' in ptext:  # quoted strings are for extension parameters only
        for key in ("branch", "received", "maddr", "ttl", "rport"):
            v = params.get(key, "")
            if v is not None and v.startswith('"'):
                raise ParseError(f"Bad Via {key}")
    ttl = params.get("ttl")
    rport = params.get("rport")
    if (ttl is not None and not (ttl.isdigit() and int(ttl) <= 255)) or (
        rport is not None and not (rport.isdigit() and int(rport) <= 65535)
    ):
        raise ParseError("Bad Via ttl/rport")
    if "branch" in params and params["branch"] is None:
        raise ParseError("Bad Via branch")
    return Via(
        transport,
        host,
        port,
        params,
        protocol=f"{name}/{version}",
        _raw=value,
    )


def parse_via_list(value: str) -> list[Via]:
    """Parse a Via header value that may hold several comma-separated Vias."""
    if "," not in value:
        return [parse_via(value.strip())]
    vias = [parse_via(v) for v in split_list(value)]
    if not vias:  # "Via: ," is a Via header without a via-parm: nothing to answer to
        raise ParseError("Bad Via header")
    return vias


def make_branch(*parts: str | bytes | int, secret: bytes = b"") -> str:
    """Deterministic RFC 3261 branch: magic cookie + hash of ``parts`` (and a secret).

    Sans-IO: no hidden randomness. Pass fields that identify the transaction (as
    Kamailio's stateless branch does: incoming top branch, Call-ID, CSeq, R-URI ...) or
    a random seed drawn by the caller.
    """
    h = hashlib.blake2s(digest_size=12)
    if secret:
        h.update(secret)
        h.update(b"\x00")
    for p in parts:
        if isinstance(p, str):
            p = p.encode("utf-8", "surrogateescape")
        elif isinstance(p, int):
            p = str(p).encode()
        h.update(len(p).to_bytes(4, "big"))
        h.update(p)
    return MAGIC_COOKIE + h.hexdigest()
