"""The request URIs ``ds_select_domain`` makes (the dispatcher's "R-URI mode").

The chosen destination replaces everything after the user part of the R-URI: the new
R-URI is the R-URI's scheme, its user (and password), ``@`` and the destination without
its ``sip:``/``sips:`` scheme; the R-URI's own port, parameters and headers go. The extra
branches of algorithm 12 in this mode are ``sip:`` (``sips:`` for a ``sips:``
destination) + the R-URI's user + ``@`` + the destination without its scheme, or the
destination itself when the R-URI has no user.
"""

from __future__ import annotations

__all__ = ["branch_ruri", "domain_ruri", "strip_scheme"]


def strip_scheme(uri: str) -> str:
    """``uri`` without a leading ``sip:`` or ``sips:`` (any case), as Kamailio cuts it."""
    lower = uri[:5].lower()
    if lower.startswith("sip:") and len(uri) > 4:
        return uri[4:]
    if lower == "sips:" and len(uri) > 5:
        return uri[5:]
    return uri


def _scheme_user(ruri: str) -> tuple[str, str | None]:
    """(scheme, "user[:password]" or None) of a SIP R-URI."""
    scheme, _, rest = ruri.strip().partition(":")
    head = rest.split("?", 1)[0]
    at = head.rfind("@")
    return scheme.lower(), (head[:at] if at > 0 else None)


def domain_ruri(ruri: str, dest_uri: str) -> str:
    """The R-URI after ``ds_select_domain`` chose ``dest_uri``."""
    scheme, userinfo = _scheme_user(ruri)
    scheme = "sips" if scheme == "sips" else "sip"
    user = f"{userinfo}@" if userinfo else ""
    return f"{scheme}:{user}{strip_scheme(dest_uri)}"


def branch_ruri(ruri: str, dest_uri: str) -> str | None:
    """A parallel branch's R-URI in R-URI mode (None: Kamailio skips a destination that
    is neither ``sip:`` nor ``sips:``)."""
    _, userinfo = _scheme_user(ruri)
    user = userinfo.split(":", 1)[0] if userinfo else None
    if not user:
        return dest_uri
    if dest_uri.startswith("sips:"):
        return f"sips:{user}@{dest_uri[5:]}"
    if dest_uri.startswith("sip:"):
        return f"sip:{user}@{dest_uri[4:]}"
    return None
