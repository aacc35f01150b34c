"""Checks for provisioning input, run before anything is written.

Every function returns the value in the form stored in the database or raises
:class:`~kamtool.errors.BadInput` with a message naming the offending argument.
Column limits are those of Kamailio 5.6's schema (VARCHAR sizes, INTEGER ranges).
"""

from __future__ import annotations

import ipaddress
import re

from kamtool.errors import BadInput

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

# kamctl's USERNAME_RE (kamctl.base): the characters a SIP user part may hold unescaped.
_USER_RE = re.compile(r"^[-a-zA-Z0-9&=+$,;?/_.!~*'()]+$")
# A host name (RFC 3261 hostname, plus "_" which is common in practice) or an IPv4 address.
_HOST_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$")
# Characters that would break a SIP URI host part; everything else is checked by the parser.
_URI_RE = re.compile(r"^(sips?):(?:([^@\s]+)@)?([^;?\s]+)([;?]\S*)?$", re.IGNORECASE)

# Transports the permissions module accepts in trusted.proto.
TRUSTED_PROTOS = ("any", "udp", "tcp", "tls", "sctp", "ws", "wss", "none")


def text(value: str, what: str, *, max_len: int, allow_empty: bool = True) -> str:
    """A text column value: no control characters, at most ``max_len`` characters."""
    if not allow_empty and not value:
        raise BadInput(f"{what} must not be empty")
    if len(value) > max_len:
        raise BadInput(f"{what} is longer than {max_len} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadInput(f"{what} contains control characters")
    return value


def posix_regex(value: str, what: str, *, max_len: int) -> str:
    """A pattern Kamailio compiles with ``regcomp`` (a POSIX basic expression, e.g. the
    trusted table's): refused here rather than skipped with a log line at match time."""
    from kamtool.core.posix_regex import PosixRegexError, compile_regex

    text(value, what, max_len=max_len)
    try:
        compile_regex(value)
    except PosixRegexError as exc:
        raise BadInput(f"{what} {value!r} is not a valid POSIX regular expression: {exc}",
                       hint="Kamailio reads it as a POSIX basic expression: "
                       "\\( \\) \\| group and alternate, ( ) | + ? are plain characters",
                       ) from exc  # fmt: skip
    return value


def integer(
    value: str | int, what: str, *, minimum: int = INT32_MIN, maximum: int = INT32_MAX
) -> int:
    """An integer within ``minimum..maximum`` (from a CLI string or an int)."""
    if isinstance(value, bool):
        raise BadInput(f"{what} must be a whole number")
    if isinstance(value, str):
        try:
            number = int(value.strip(), 10)
        except ValueError:
            raise BadInput(f"{what} must be a whole number, not {value!r}") from None
    else:
        number = int(value)
    if not minimum <= number <= maximum:
        raise BadInput(f"{what} must be between {minimum} and {maximum}, not {number}")
    return number


def group_id(value: str | int, what: str = "group") -> int:
    """A numeric group or set id (address.grp, dispatcher.setid): 0 .. 2^31-1."""
    return integer(value, what, minimum=0)


def port(value: str | int) -> int:
    """A UDP/TCP port, 0..65535 (0 means any port in the address table)."""
    return integer(value, "port", minimum=0, maximum=65535)


def ip_address(
    value: str, what: str = "IP address"
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 or IPv6 address (IPv6 may be written in brackets)."""
    raw = value.strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    try:
        return ipaddress.ip_address(raw)
    except ValueError:
        raise BadInput(f"{what} {value!r} is not an IPv4 or IPv6 address") from None


def mask(value: str | int | None, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """A prefix length for ``ip``: 0..32 for IPv4, 0..128 for IPv6.

    The default is a single host (32 or 128): the permissions module keeps exactly
    those entries in its address hash table and everything else in its subnet table.
    """
    if value is None or value == "":
        return ip.max_prefixlen
    return integer(value, "mask", minimum=0, maximum=ip.max_prefixlen)


def sip_uri(value: str, what: str = "URI", *, max_len: int = 192) -> str:
    """A ``sip:`` or ``sips:`` URI with a host part, as the dispatcher module loads it."""
    uri = value.strip()
    m = _URI_RE.match(uri)
    if not m:
        raise BadInput(f"{what} {value!r} is not a SIP URI", hint="write it as sip:host[:port]")
    host = m.group(3)
    if host.startswith("["):  # [IPv6]:port
        end = host.find("]")
        if end < 0:
            raise BadInput(f"{what} {value!r} has an unterminated IPv6 reference")
        ip_address(host[1:end], f"host in {what}")
        rest = host[end + 1 :]
    else:
        name, _, rest = host.partition(":")
        rest = ":" + rest if rest else ""
        if not name or not _host_name(name):
            raise BadInput(f"{what} {value!r} has no valid host part")
    if rest:
        if not rest.startswith(":"):
            raise BadInput(f"{what} {value!r} has garbage after the host")
        port(rest[1:])
    return text(uri, what, max_len=max_len)


def _host_name(name: str) -> bool:
    """True for a host name or an IPv4 address; False for anything else, such as
    ``300.1.1.1`` or ``1.2.3``: a name whose last label is all digits is no host name
    (RFC 3261's toplabel starts with a letter), so it must be a valid IPv4 address.
    Kamailio would look such a name up in DNS: the destination is dropped at reload,
    the domain never matches."""
    if not _HOST_RE.match(name):
        return False
    if name.rstrip(".").rsplit(".", 1)[-1].isdigit():
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return False
    return True


def domain_name(value: str, what: str = "domain", *, new: bool = False) -> str:
    """A SIP domain: a host name, an IPv4 address or a bracketed IPv6 reference.

    ``new``: for a value about to be written, also refuse a dotted name that is no
    IPv4 address (``300.1.1.1``); lookups and removals take it, so that such a row
    written earlier (or by kamctl) can still be found and removed."""
    raw = value.strip()
    if raw.startswith("[") and raw.endswith("]"):
        ip_address(raw, what)
        return text(raw, what, max_len=64)
    if not raw or not _HOST_RE.match(raw) or (new and not _host_name(raw)):
        hint = None
        if ":" in raw:
            try:
                ipaddress.IPv6Address(raw)
                hint = f"an IPv6 address is written in brackets: [{raw}]"
            except ValueError:
                pass
        raise BadInput(f"{what} {value!r} is not a valid host name or IP address", hint=hint)
    # Stored as written, like kamctl: Kamailio compares domains byte for byte on SQLite.
    return text(raw, what, max_len=64)


def username(value: str, what: str = "user name") -> str:
    """A SIP user part (the characters kamctl's USERNAME_RE accepts), at most 64 long."""
    if not value:
        raise BadInput(f"{what} must not be empty")
    if not _USER_RE.match(value):
        raise BadInput(f"{what} {value!r} contains characters not allowed in a SIP user name")
    return text(value, what, max_len=64)


def proto(value: str) -> str:
    """A transport for trusted.proto."""
    p = value.strip().lower()
    if p not in TRUSTED_PROTOS:
        raise BadInput(f"protocol {value!r} is not one of {', '.join(TRUSTED_PROTOS)}")
    return p
