"""Destination attributes: the ``attrs`` column (``duid=gw1;weight=50;maxload=20``).

:func:`parse_attrs` reads them as Kamailio 5.6's dispatcher does when it loads a row
(lenient: a number stops at the first non-digit, ``weight``/``rweight`` outside 1..100 count
as unset, unknown names are kept for the cfg); :func:`validate_attrs` is what provisioning
accepts, strictly, so that a typo is refused instead of silently loaded as "unset".

Names (case-insensitive): ``duid`` (call-load id), ``maxload`` (calls at most, 0 no
limit), ``weight`` and ``rweight`` (1..100), ``cc`` (congestion control, 0/1), ``latency``
(initial estimate in ms), ``socket`` (``[proto:]addr[:port]`` the requests leave from),
``sockname`` (a socket's name), ``ping_from`` and ``obproxy`` (SIP URIs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["AttrError", "DsAttrs", "parse_attrs", "split_attrs", "validate_attrs"]

_PROTOS = ("udp", "tcp", "tls", "sctp", "ws", "wss")
_TOKEN = re.compile(r"[A-Za-z0-9_.!%*+`'~-]+")
_INT = re.compile(r"[+-]?[0-9]+")
_URI_ATTRS = ("ping_from", "obproxy")
_INT_RANGES = {  # name: (minimum, maximum) of what provisioning accepts
    "weight": (1, 100),
    "rweight": (1, 100),
    "maxload": (0, 2**31 - 1),
    "cc": (0, 1),
    "latency": (0, 2**31 - 1),
}


class AttrError(ValueError):
    """An attribute string provisioning refuses (the message names the attribute)."""


@dataclass(slots=True)
class DsAttrs:
    """The attributes Kamailio acts on, plus the whole body as written."""

    body: str = ""
    duid: str = ""
    maxload: int = 0
    weight: int = 0
    rweight: int = 0
    cc: int = 0
    latency: int | None = None  # initial latency estimate (ms), when given
    socket: str = ""
    sockname: str = ""
    ping_from: str = ""
    obproxy: str = ""
    others: dict[str, str] = field(default_factory=dict)


def split_attrs(body: str) -> list[tuple[str, str]]:
    """``name=value`` pairs in order (a value may be a quoted string; a bare name has the
    value ""). A trailing ``;`` is ignored, as Kamailio drops it."""
    text = body.strip()
    if text.endswith(";"):
        text = text[:-1]
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        end = text.find(";", i)
        eq = text.find("=", i)
        if eq < 0 or (0 <= end < eq):
            stop = end if end >= 0 else len(text)
            pairs.append((text[i:stop].strip(), ""))
            i = stop + 1
            continue
        name = text[i:eq].strip()
        j = eq + 1
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == '"':
            close = text.find('"', j + 1)
            if close < 0:
                raise AttrError(f"unterminated quoted value of {name!r}")
            value = text[j + 1 : close]
            end = text.find(";", close)
        else:
            end = text.find(";", j)
            value = text[j : end if end >= 0 else len(text)].strip()
        pairs.append((name, value))
        i = end + 1 if end >= 0 else len(text)
    return pairs


def _lenient_int(text: str) -> int:
    """Kamailio's ``str2sint``: digits up to the first other character (0 for none)."""
    m = re.match(r"[+-]?[0-9]*", text)
    digits = m.group(0) if m else ""
    try:
        return int(digits) if digits not in ("", "+", "-") else 0
    except ValueError:
        return 0


def parse_attrs(body: str | None) -> DsAttrs:
    """The attributes as the dispatcher loads them (never raises on a value)."""
    text = (body or "").strip()
    attrs = DsAttrs(body=text[:-1] if text.endswith(";") else text)
    try:
        pairs = split_attrs(text)
    except AttrError:
        return attrs  # Kamailio refuses the whole destination; the loader logs it
    for name, value in pairs:
        key = name.lower()
        if key in ("weight", "rweight"):
            number = _lenient_int(value)
            setattr(attrs, key, number if 1 <= number <= 100 else 0)
        elif key in ("maxload", "cc"):
            setattr(attrs, key, _lenient_int(value))
        elif key == "latency":
            if _INT.fullmatch(value):
                attrs.latency = int(value)
        elif key in ("duid", "socket", "sockname", "ping_from", "obproxy"):
            setattr(attrs, key, value)
        else:
            attrs.others[name] = value
    return attrs


def parse_socket(text: str) -> tuple[str, str, int]:
    """``[proto:]host[:port]`` (Kamailio's ``parse_phostport``) → (proto or "", host,
    port or 0). :class:`AttrError` when malformed."""
    proto, rest = "", text.strip()
    head, sep, tail = rest.partition(":")
    if sep and head.lower() in _PROTOS:
        proto, rest = head.lower(), tail
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise AttrError(f"bad socket {text!r}: unterminated IPv6 address")
        host, after = rest[: close + 1], rest[close + 1 :]
        if after and not after.startswith(":"):
            raise AttrError(f"bad socket {text!r}")
        port_text = after[1:]
    else:
        host, _, port_text = rest.partition(":")
    if not host or not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", host):
        raise AttrError(f"bad socket {text!r}: no address")
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise AttrError(f"bad socket {text!r}: port must be 1-65535")
    return proto, host, int(port_text) if port_text else 0


def validate_attrs(body: str) -> DsAttrs:
    """Strict check for provisioning: every known attribute well-formed and in range, no
    attribute twice; unknown names are allowed (cfg scripts read them from the xavp)."""
    seen: set[str] = set()
    for name, value in split_attrs(body):
        key = name.lower()
        if not _TOKEN.fullmatch(name):
            raise AttrError(f"bad attribute name {name!r}")
        if key in seen:
            raise AttrError(f"attribute {name!r} given twice")
        seen.add(key)
        if key in _INT_RANGES:
            low, high = _INT_RANGES[key]
            if not _INT.fullmatch(value) or not low <= int(value) <= high:
                raise AttrError(f"attribute {key} must be an integer {low}-{high}, not {value!r}")
        elif key in ("duid", "sockname"):
            if not value or not _TOKEN.fullmatch(value):
                raise AttrError(f"attribute {key} must be a non-empty token, not {value!r}")
        elif key == "socket":
            parse_socket(value)
        elif key in _URI_ATTRS:
            _check_uri(key, value)
    return parse_attrs(body)


def _check_uri(key: str, value: str) -> None:
    from kamtool.sip.errors import ParseError
    from kamtool.sip.uri import SipURI, parse_uri

    try:
        ok = isinstance(parse_uri(value), SipURI)
    except ParseError:
        ok = False
    if not ok:
        raise AttrError(f"attribute {key} must be a SIP URI, not {value!r}")
