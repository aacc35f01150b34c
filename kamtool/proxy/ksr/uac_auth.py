"""``KSR.uac.uac_auth()`` and ``uac_auth_mode(mode)``: a failure route answers an upstream's
digest challenge (a carrier's 401/407) and relays the request again, as Kamailio 5.6's uac
module does::

    def failure_route_trunk(self, msg):
        if KSR.tm.t_check_status("401|407") > 0:
            KSR.pv.sets("$avp(auser)", "trunk1")
            KSR.pv.sets("$avp(apass)", "secret")
            if KSR.uac.uac_auth() > 0:
                KSR.tm.t_relay()

The reply of the branch tm picked (the best one) must be a 401 with WWW-Authenticate or a
407 with Proxy-Authenticate (its first one), MD5 or no algorithm; the credentials come
from the variables ``[proxy] uac_auth_username_avp``/``_password_avp``/``_realm_avp`` name
(uac's ``auth_*_avp`` modparams). An empty realm variable accepts any realm, else it must
be the challenge's. The new Authorization/Proxy-Authorization goes at the end of the
request's headers and the R-URI becomes the picked branch's, so the next ``t_relay()``
sends it; nothing is sent here. 1 on success, -1 otherwise (outside a failure route, no
reply, no challenge, no matching credentials), as Kamailio.

The CSeq stays as it was: Kamailio's uac only raises it with the dialog module's
``track_cseq_updates`` (not in kamtool), so the new request has a new branch and the
same CSeq. With ``qop`` offered the answer is ``qop=auth``, ``nc=00000001`` and a fresh
cnonce. The password is never logged.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from kamtool.proxy.ksr import pv
from kamtool.proxy.ksr.context import FAILURE, current
from kamtool.sip.digest import Challenge, DigestParseError, compute_response, parse_challenge
from kamtool.sip.ha1 import ha1

__all__ = ["uac_auth", "uac_auth_functions", "uac_auth_mode"]

log = logging.getLogger("kamtool.route")

MODE_HA1 = 1  # uac's UACAUTH_MODE_HA1: the password variable holds HA1 (32 hex digits)
# reply code -> (the challenge's header, the answer's header)
_HEADERS = {
    401: ("WWW-Authenticate", "Authorization"),
    407: ("Proxy-Authenticate", "Proxy-Authorization"),
}
_ADDED = "\0uac_auth"  # transaction AVP slot: the header the last uac_auth() added


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(name: str) -> str:
    """The value of the variable ``name`` as text, "" when it has none."""
    value = pv.get(name)
    return "" if value is None else str(value)


def _credentials(config: Any, realm: str) -> tuple[str, str, str] | None:
    """(user, realm, password) for the challenge's ``realm`` from the auth variables, or
    None (none configured, another realm, an empty user or password)."""
    if not config.uac_auth_realm_avp:
        return None
    wanted = _text(config.uac_auth_realm_avp)
    if wanted and wanted != realm:  # Kamailio compares the realm case-sensitively
        return None
    user = _text(config.uac_auth_username_avp)
    password = _text(config.uac_auth_password_avp)
    if not user or not password:
        return None
    return user, realm, password


def _qop(challenge: Challenge) -> str | None:
    """``auth`` when the challenge offers it (uac answers every qop starting with "auth"
    with qop=auth, auth-int included); None for the RFC 2069 answer."""
    return "auth" if any(q.lower().startswith("auth") for q in challenge.qop) else None


def answer(challenge: Challenge, method: str, uri: str, user: str, realm: str, secret: str,
           ha1_given: bool, cnonce: str) -> str:  # fmt: skip
    """The Authorization value: uac's fields in uac's order (username, realm, nonce, uri,
    opaque, qop/nc/cnonce, response, algorithm=MD5)."""
    qop = _qop(challenge)
    nc = "00000001" if qop else None  # one answer per nonce: uac always counts 1
    response = compute_response(secret if ha1_given else ha1(user, realm, secret),
                                method=method, uri=uri, nonce=challenge.nonce, algorithm="MD5",
                                qop=qop, nc=nc, cnonce=cnonce if qop else None)  # fmt: skip
    parts = [f"username={_quoted(user)}", f"realm={_quoted(realm)}",
             f"nonce={_quoted(challenge.nonce)}", f"uri={_quoted(uri)}"]  # fmt: skip
    if challenge.opaque:
        parts.append(f"opaque={_quoted(challenge.opaque)}")
    if qop is not None:
        parts += [f"qop={qop}", f"nc={nc}", f"cnonce={_quoted(cnonce)}"]
    parts += [f"response={_quoted(response)}", "algorithm=MD5"]
    return "Digest " + ", ".join(parts)


def _replace_added(headers: Any, avps: dict[str, Any], name: str, value: str) -> None:
    """Add ``name: value`` at the end, dropping the one an earlier uac_auth() of this
    transaction added (Kamailio's failure-route lumps go with the faked request; here the
    failure route edits the transaction's request, so a second challenge would stack)."""
    before = avps.get(_ADDED)
    if before is not None:
        old_name, old_value = before
        lines = headers.get_lines(old_name)
        if old_value in lines:
            lines.remove(old_value)
            headers.remove(old_name)
            for line in lines:
                headers.add(old_name, line)
    headers.add(name, value)
    avps[_ADDED] = (name, value)


def uac_auth_mode(mode: int) -> int:
    """uac_auth with ``mode`` 1: the password variable holds HA1 (see module docstring)."""
    ctx = current()
    stx = ctx.stx
    if ctx.kind != FAILURE or stx is None:
        log.error("uac_auth: no transaction with a picked branch (not a failure route)")
        return -1
    best = stx.best()
    reply = best.final
    names = _HEADERS.get(best.status)
    if reply is None or names is None:
        log.error("uac_auth: the picked reply (%s) is not an auth request", best.status)
        return -1
    value = reply.headers.get(names[0])
    if value is None:
        log.error("uac_auth: the reply has no %s header", names[0])
        return -1
    try:
        challenge = parse_challenge(value)
    except DigestParseError as exc:
        log.error("uac_auth: cannot parse %s: %s", names[0], exc)
        return -1
    if challenge.algorithm is not None and challenge.algorithm.upper() != "MD5":
        log.error("uac_auth: unsupported algorithm %r", challenge.algorithm)
        return -1
    found = _credentials(ctx.parts.config, challenge.realm)
    if found is None:
        log.info("uac_auth: no credential for realm %r", challenge.realm)
        return -1
    user, realm, secret = found
    ha1_given = bool(int(mode) & MODE_HA1)
    if ha1_given and len(secret) < 32:
        log.error("uac_auth: the password is not an HA1 (32 hex digits)")
        return -1
    uri = best.request.uri_text  # the picked branch's R-URI (after $ru/lookup rewrites)
    msg = ctx.msg
    header = answer(challenge, msg.method, uri, user, realm, secret[:32] if ha1_given else secret,
                    ha1_given, secrets.token_hex(8))  # fmt: skip
    if msg.uri_text != uri:
        msg.uri = uri
    _replace_added(msg.headers, ctx.avps, names[1], header)
    return 1


def uac_auth() -> int:
    """Answer the picked branch's challenge with the configured credentials: 1, or -1."""
    return uac_auth_mode(0)


def uac_auth_functions() -> dict[str, Any]:
    """``KSR.uac``'s authentication functions (Kamailio 5.6 exports both to KEMI)."""
    return {"uac_auth": uac_auth, "uac_auth_mode": uac_auth_mode}
