"""The hashes of the dispatcher's hash algorithms, as Kamailio 5.6 computes them.

``ds_get_hash`` sums Kamailio's core string hash over one or two strings (user, then
host[:port]) and folds once; 0 becomes 1. The URI algorithms (1 From, 2 To, 3 R-URI) hash
the URI's user (raw, as written) and its host with the port when the port is written and
is not the scheme's default (5060, 5061 for ``sips``); with the module's flag 1
(``DS_HASH_USER_ONLY``) the user alone. Algorithm 0 hashes the trimmed Call-ID, 5 the
user part of the credentials' digest user name, 7 the expanded ``hash_pvar`` text
(trimmed; empty is an error).
"""

from __future__ import annotations

from kamtool.core.hashes import fold, word_sum

__all__ = ["HashError", "digest_user", "ds_hash", "hash_string", "uri_hash", "uri_hash_keys"]

DS_HASH_USER_ONLY = 1


class HashError(ValueError):
    """The request lacks what the algorithm hashes (Kamailio's ``ds_select`` fails)."""


def _bytes(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text


def ds_hash(first: str | bytes | None, second: str | bytes | None = None) -> int:
    """Kamailio's ``ds_get_hash(x, y)``: never 0."""
    total = 0
    for part in (first, second):
        if part is not None:
            total += word_sum(_bytes(part))
    h = fold(total)
    return h or 1


def hash_string(text: str, what: str = "value") -> int:
    """Algorithms 0, 5 and 7: the hash of one trimmed string (empty: :class:`HashError`)."""
    value = text.strip(" \t\r\n")
    if not value:
        raise HashError(f"empty {what}")
    return ds_hash(value)


def digest_user(username: str) -> str:
    """The user part of a digest ``username`` as Kamailio's credentials parser splits it:
    before the first ``@``, after a ``:`` in that (``sip:alice@example.com`` → ``alice``);
    names of up to two characters are taken whole. Algorithm 5 hashes this part."""
    if len(username) <= 2:
        return username
    user = username.split("@", 1)[0]
    return user.split(":", 1)[1] if ":" in user else user


def uri_hash_keys(uri: str, flags: int = 0) -> tuple[str | None, str]:
    """(user, host[:port]) of ``uri`` as Kamailio takes them for hashing: raw text as
    written; the port only when it is not the scheme's default."""
    text = uri.strip(" \t\r\n")
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("sip", "sips"):
        raise HashError(f"not a SIP URI: {uri!r}")
    # the hostport ends at the first ';' or '?' after the user part
    at = rest.rfind("@", 0, _end_of_userinfo(rest))
    userinfo, hostpart = (rest[:at], rest[at + 1 :]) if at >= 0 else (None, rest)
    user = userinfo.split(":", 1)[0] if userinfo is not None else None
    for stop in (";", "?"):
        hostpart = hostpart.split(stop, 1)[0]
    if hostpart.startswith("["):
        close = hostpart.find("]")
        if close < 0:
            raise HashError(f"bad IPv6 reference in {uri!r}")
        host, after = hostpart[: close + 1], hostpart[close + 1 :]
        port_text = after[1:] if after.startswith(":") else ""
    else:
        host, _, port_text = hostpart.partition(":")
    if not host:
        raise HashError(f"no host in {uri!r}")
    if flags & DS_HASH_USER_ONLY:
        return user, ""
    if port_text:
        if not port_text.isdigit():
            raise HashError(f"bad port in {uri!r}")
        default = 5061 if scheme == "sips" else 5060
        if int(port_text) != default:
            host = f"{host}:{port_text}"
    return user, host


def _end_of_userinfo(rest: str) -> int:
    """Where the userinfo could end: the user part may hold ';' (user parameters) but
    not '?' before the '@'; the host part cannot hold an '@'."""
    q = rest.find("?")
    return q if q >= 0 else len(rest)


def uri_hash(uri: str, flags: int = 0) -> int:
    """Algorithms 1, 2 and 3: ``ds_get_hash(user, host[:port])`` of ``uri``."""
    user, host = uri_hash_keys(uri, flags)
    return ds_hash(user, host if host else None)
