"""name-addr and addr-spec values (From, To, Contact, Route, Record-Route):
:class:`NameAddr` and its parsers."""

from __future__ import annotations

import re

from . import _abnf
from .errors import ParseError
from .params import _format_params, parse_params, quote, split_list, unquote
from .uri import URI, SipURI, parse_uri

_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")  # RFC 3261 section 25.1, qvalue

__all__ = ["NameAddr", "parse_name_addr", "parse_name_addr_list"]

# unquoted display names: tokens, leniently widened to non-ASCII letters (phones send
# ``From: Jürgen <sip:...>``); commas and other separators stay refused (RFC 4475 3.1.2.14)
_dn_token = rf"[{_abnf.token_char}\x80-\U0010ffff]+"
_NAME_ADDR_RE = re.compile(
    rf"{_abnf.SWS}(?:({_abnf.quoted_string})|({_dn_token}(?:{_abnf.LWS}{_dn_token})*))?"
    rf"{_abnf.SWS}<([^<>\s\"]*)>(.*)\Z",
    re.S,
)
# addr-spec without <>: no ';' (those are header params), no ',', '?' or whitespace
_ADDR_SPEC_RE = re.compile(r"[ \t]*([^\s;,?<>\"]+)(.*)\Z", re.S)


class NameAddr:
    """An address with optional display name and header parameters (From, To, Contact,
    Route, Record-Route ...).

    Attributes: ``uri`` (SipURI/TelURI/AbsoluteURI, or None for the Contact ``*``),
    ``display_name`` (unquoted text or None), ``params`` (dict lower name -> value; quoted
    values keep their quotes). Properties: ``tag``, ``expires``, ``q``, ``is_star``.
    """

    __slots__ = ("_raw", "display_name", "params", "uri")

    def __init__(
        self,
        uri: URI | str | None,
        display_name: str | None = None,
        params: dict[str, str | None] | None = None,
        *,
        _raw: str | None = None,
    ) -> None:
        if isinstance(uri, str):
            uri = parse_uri(uri)
        self.uri = uri
        self.display_name = display_name
        self.params = params if params is not None else {}
        self._raw = _raw

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def is_star(self) -> bool:
        """True for ``Contact: *`` (REGISTER remove-all)."""
        return self.uri is None

    @property
    def expires(self) -> int | None:
        """Contact ``expires`` parameter (clamped to 2**32-1), or None."""
        v = self.params.get("expires")
        if v is None or not v.isdigit():
            return None
        return min(int(v), 2**32 - 1)

    @property
    def q(self) -> float | None:
        """Contact ``q`` parameter as a float, or None when absent; ParseError (400) for
        anything but RFC 3261's qvalue, 0 to 1 with at most three decimals (``inf``,
        ``1.5``, ``nan`` would rank a contact above every other, or break the order)."""
        v = self.params.get("q")
        if v is None:
            return None
        if not _QVALUE.fullmatch(v):
            raise ParseError(f"Bad q value in Contact: {v[:20]}")
        return float(v)

    @property
    def sip_uri(self) -> SipURI | None:
        """The URI when it is a sip/sips one, else None."""
        return self.uri if isinstance(self.uri, SipURI) else None

    def with_params(self, **params: str | int | None) -> NameAddr:
        """Copy with parameters set (``to.with_params(tag="abc")``)."""
        merged = dict(self.params)
        for k, v in params.items():
            merged[k.lower()] = None if v is None else str(v)
        return NameAddr(self.uri, self.display_name, merged)

    def without_params(self, *names: str) -> NameAddr:
        drop = {n.lower() for n in names}
        return NameAddr(
            self.uri, self.display_name, {k: v for k, v in self.params.items() if k not in drop}
        )

    def __str__(self) -> str:
        if self._raw is None:
            if self.uri is None:
                self._raw = "*" + _format_params(self.params)
            else:
                dn = ""
                if self.display_name is not None:
                    dn = quote(self.display_name) + " "
                self._raw = f"{dn}<{self.uri}>{_format_params(self.params)}"
        return self._raw

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return f"NameAddr({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameAddr):
            return NotImplemented
        return (
            self.uri == other.uri
            and self.display_name == other.display_name
            and self.params == other.params
        )

    __hash__ = None  # type: ignore[assignment]


_BARE_NAME_ADDR_RE = re.compile(r"[ \t]*<([^<>\s\"]*)>(.*)\Z", re.S)


# Parsed name-addrs by their text: the same From/To/Contact/Route values come again and
# again (a phone's AoR, its contact, our own Record-Route). NameAddr and URI objects are
# never changed in place, so sharing them is safe. Bounded: the text comes from the network.
_NAME_ADDR_CACHE: dict[str, NameAddr] = {}
_CACHE_MAX = 4096


def parse_name_addr(value: str, what: str = "address", allow_star: bool = False) -> NameAddr:
    """Parse ``"Name" <uri>;params``, ``Name <uri>``, ``uri;params`` (or ``*`` if allowed)."""
    na = _NAME_ADDR_CACHE.get(value)
    if na is None:
        na = _parse_name_addr(value, what, allow_star)
        if na.uri is not None:  # "*" depends on allow_star: never cached
            if len(_NAME_ADDR_CACHE) >= _CACHE_MAX:
                _NAME_ADDR_CACHE.clear()
            _NAME_ADDR_CACHE[value] = na
    return na


def _parse_name_addr(value: str, what: str, allow_star: bool) -> NameAddr:
    m = _BARE_NAME_ADDR_RE.match(value)
    if m is not None:  # the common "<uri>;params" without display name
        uri_text, ptext = m.groups()
        params = parse_params(ptext.rstrip(), what) if ptext.strip() else {}
        return NameAddr(parse_uri(uri_text, what), None, params, _raw=value.strip())
    m = _NAME_ADDR_RE.match(value)
    if m is not None:
        quoted, tokens, uri_text, ptext = m.groups()
        if quoted is not None:
            dn: str | None = unquote(quoted)
        elif tokens is not None:
            dn = tokens
        else:
            dn = None
        uri = parse_uri(uri_text, what)
    else:
        stripped = value.strip()
        if allow_star and stripped[:1] == "*":
            ptext = stripped[1:]
            params = parse_params(ptext, what) if ptext.strip() else {}
            return NameAddr(None, None, params, _raw=stripped)
        m = _ADDR_SPEC_RE.match(value)
        if m is None or "<" in value or '"' in value:
            raise ParseError(f"Bad {what} header")
        uri_text, ptext = m.groups()
        dn = None
        uri = parse_uri(uri_text, what)
    params = parse_params(ptext.rstrip(), what) if ptext.strip() else {}
    return NameAddr(uri, dn, params, _raw=value.strip())


def parse_name_addr_list(value: str, what: str, allow_star: bool = False) -> list[NameAddr]:
    """Parse a comma-separated list of name-addrs (Contact, Route, Record-Route)."""
    if "," not in value:
        return [parse_name_addr(value, what, allow_star)]
    return [parse_name_addr(v, what, allow_star) for v in split_list(value)]
