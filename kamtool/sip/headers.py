"""Header names and the typed values routing needs: Via, name-addr (From/To/Contact/Route),
CSeq and Authorization-style credentials.

Header names: :func:`canonical_name` maps any spelling (``v``, ``VIA``, ``Via``) to one key,
the lower-case full name (``"via"``); :data:`COMPACT_FORMS` is the one compact-form table.
Typed values are immutable; derive changed copies with ``with_param``/``without_param`` and
put them back through the message's mutation methods. :class:`Via` lives in
:mod:`kamtool.sip.via`, :class:`NameAddr` in :mod:`kamtool.sip.name_addr`, list and
parameter syntax in :mod:`kamtool.sip.params`; this module exports them all.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from . import _abnf
from .digest_header import split_auth
from .errors import ParseError
from .ha1 import DigestParseError
from .name_addr import NameAddr, parse_name_addr, parse_name_addr_list
from .params import parse_params, quote, split_list, unquote
from .via import MAGIC_COOKIE, Via, make_branch, parse_via, parse_via_list

__all__ = [
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "MAGIC_COOKIE",
    "SINGLETON_HEADERS",
    "CSeq",
    "Credentials",
    "NameAddr",
    "Via",
    "canonical_name",
    "display_name",
    "make_branch",
    "parse_auth",
    "parse_cseq",
    "parse_name_addr",
    "parse_name_addr_list",
    "parse_params",
    "parse_via",
    "parse_via_list",
    "quote",
    "split_list",
    "unquote",
]

#: RFC 3265 (o u), RFC 3515 (r), RFC 3892 (b), RFC 4028 (x), RFC 4474 (y n),
#: RFC 3841 (a j d).
COMPACT_FORMS: dict[str, str] = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
    "y": "identity",
    "n": "identity-info",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
}

#: Display spelling of well-known headers (used when kamtool adds one).
PRETTY_NAMES: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
}

#: Headers whose value is a comma-separated list (RFC 3261 ``#element`` rules) and that
#: may be split into several lines or joined into one. WWW-Authenticate, Authorization,
#: Proxy-Authenticate and Proxy-Authorization are NOT here: their commas separate
#: parameters of one challenge/credential.
LIST_HEADERS = frozenset(
    {
        "via",
        "route",
        "record-route",
        "contact",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "allow-events",
        "alert-info",
        "call-info",
        "error-info",
        "content-encoding",
        "content-language",
        "in-reply-to",
        "path",
        "service-route",
        "security-client",
        "security-server",
        "security-verify",
        "p-associated-uri",
        "history-info",
        "reason",
        "accept-contact",
        "reject-contact",
        "request-disposition",
    }
)

#: Headers that may appear once at most (RFC 4475 3.3.8/3.3.9: several -> 400).
SINGLETON_HEADERS = frozenset(
    {"call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type", "expires"}
)

_name_cache: dict[bytes, str] = {}
_str_name_cache: dict[str, str] = {}  # the names code asks for ("Via", "user-agent" ...)
_TOKEN_RE = re.compile(rf"{_abnf.token}\Z")


def canonical_name(name: str | bytes) -> str:
    """Lookup key of a header name: compact forms expanded, lower case (``b"v"`` -> ``"via"``)."""
    if isinstance(name, bytes):
        key = _name_cache.get(name)
        if key is not None:
            return key
        text = name.decode("latin-1").strip().lower()
        key = COMPACT_FORMS.get(text, text)
        if len(_name_cache) < 4096:  # bounded: header names come from the network
            _name_cache[name] = key
        return key
    key = _str_name_cache.get(name)
    if key is None:
        text = name.strip().lower()
        key = COMPACT_FORMS.get(text, text)
        if len(_str_name_cache) < 4096:
            _str_name_cache[name] = key
    return key


def display_name(key: str) -> str:
    """Conventional spelling of a canonical name (``"call-id"`` -> ``"Call-ID"``)."""
    pretty = PRETTY_NAMES.get(key)
    if pretty is not None:
        return pretty
    return "-".join(p[:1].upper() + p[1:] for p in key.split("-"))


for _short in COMPACT_FORMS:
    for _v in (_short, _short.upper()):
        _name_cache[_v.encode()] = COMPACT_FORMS[_short]
for _full in list(COMPACT_FORMS.values()) + ["cseq", "max-forwards", "route", "record-route"]:
    for _v in (_full, display_name(_full), _full.upper()):
        _name_cache[_v.encode()] = _full


# --- CSeq ---------------------------------------------------------------------------------
class CSeq(NamedTuple):
    """CSeq value: sequence number and method (``CSeq(1, "INVITE")``)."""

    num: int
    method: str

    def __str__(self) -> str:
        return f"{self.num} {self.method}"


_CSEQ_RE = re.compile(rf"[ \t]*(\d{{1,10}})[ \t]+({_abnf.token})[ \t]*\Z")


_CACHE_MAX = 4096
_CSEQ_CACHE: dict[str, CSeq] = {}  # "1 INVITE", "2 REGISTER" ... (CSeq is immutable)


def parse_cseq(value: str) -> CSeq:
    """Parse a CSeq value; the number must be below 2**31 (RFC 3261 section 8.1.1.5)."""
    cseq = _CSEQ_CACHE.get(value)
    if cseq is not None:
        return cseq
    m = _CSEQ_RE.match(value)
    if m is None:
        raise ParseError("Bad CSeq header")
    num = int(m.group(1))
    if num >= 2**31:
        raise ParseError("CSeq number too large")
    cseq = CSeq(num, m.group(2))
    if len(_CSEQ_CACHE) >= _CACHE_MAX:
        _CSEQ_CACHE.clear()
    _CSEQ_CACHE[value] = cseq
    return cseq


# --- Authorization / WWW-Authenticate -------------------------------------------------------
class Credentials(NamedTuple):
    """Authorization/Proxy-Authorization credentials or a WWW/Proxy-Authenticate challenge.

    ``scheme`` as sent ("Digest"), ``params`` lower-case name -> unquoted value, ``raw`` the
    header value. Unknown schemes with opaque data keep ``params`` empty (RFC 4475 3.3.7).
    For the checks authentication needs, see :func:`kamtool.sip.digest.parse_credentials`.
    """

    scheme: str
    params: dict[str, str]
    raw: str

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name.lower(), default)


def parse_auth(value: str) -> Credentials:
    """Parse ``Digest username="a", realm="b", ...`` (commas separate params, not values)."""
    try:
        scheme, pairs = split_auth(value)
    except DigestParseError:
        raise ParseError("Bad authorization header") from None
    if pairs is None and scheme.lower() == "digest":
        raise ParseError("Bad Digest parameters")
    return Credentials(scheme, dict(pairs or ()), value.strip())
