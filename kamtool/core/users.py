"""User names as kamctl takes them, and the HA1 hashes kamctl stores.

``user``, ``user@domain`` and ``sip:user@domain`` (or ``sips:``) name a subscriber;
without a domain part the default domain (``Settings.sip_domain``: kamctlrc
SIP_DOMAIN, ``[sip] domain``, ``KAMTOOL_SIP_DOMAIN`` or ``--domain``) is used, as
kamctl's ``set_user`` does with ``$SIP_DOMAIN``.

The HA1 values come from :mod:`kamtool.sip.ha1` (the one HA1 implementation, shared
with the proxy's authenticator); :func:`credential_columns` is the one place that turns
a password into the subscriber columns, for add, passwd and CSV import alike. The
values match kamctl's ``_gen_ha1``/``_gen_ha1b`` byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from kamtool.core import validate
from kamtool.errors import BadInput, ConfigError

NO_DOMAIN_MESSAGE = "domain unknown: use usernames with domain or set default domain in SIP_DOMAIN"
NO_DOMAIN_HINT = (
    "write USER@DOMAIN, or set the default domain with --domain D, KAMTOOL_SIP_DOMAIN, "
    "[sip] domain in kamtool.toml or SIP_DOMAIN in kamctlrc"
)


@dataclass(frozen=True)
class User:
    """A subscriber's identity: the ``username`` and ``domain`` columns."""

    username: str
    domain: str

    @property
    def aor(self) -> str:
        """``user@domain``, the form kamctl and Kamailio's RPC use."""
        return f"{self.username}@{self.domain}"

    def __str__(self) -> str:
        return self.aor


def parse_user(spec: str, default_domain: str | None, *, what: str = "user") -> User:
    """Split ``user``, ``user@domain`` or ``sip:user@domain`` into a :class:`User`.

    An explicit domain wins over ``default_domain``; with neither, :class:`BadInput`
    carries kamctl's message.
    """
    raw = spec.strip()
    lowered = raw.lower()
    for scheme in ("sip:", "sips:"):
        if lowered.startswith(scheme):
            raw = raw[len(scheme) :]
            break
    user, at, domain = raw.rpartition("@")
    if not at:
        user, domain = raw, ""
    if not user:
        raise BadInput(f"{what} {spec!r} has no user part")
    if "@" in user:
        raise BadInput(f"{what} {spec!r} has more than one '@'")
    domain = domain or (default_domain or "")
    if not domain:
        raise BadInput(NO_DOMAIN_MESSAGE, hint=NO_DOMAIN_HINT)
    return User(validate.username(user), validate.domain_name(domain))


def check_username_re(user: User, pattern: str) -> None:
    """BadInput unless the user part matches ``pattern`` (kamctlrc USERNAME_RE) whole."""
    import re

    try:
        ok = re.fullmatch(pattern, user.username) is not None
    except re.error as exc:
        raise ConfigError(f"USERNAME_RE {pattern!r} is not a valid pattern: {exc}") from None
    if not ok:
        raise BadInput(
            f"user name {user.username!r} does not match USERNAME_RE",
            hint=f"the kamctlrc allows user names matching {pattern}",
        )


def check_password(password: str, *, store_plaintext: bool) -> str:
    """Reject unusable passwords. Messages never echo the password."""
    if not password:
        raise BadInput("the password must not be empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise BadInput("the password contains control characters")
    # subscriber.password is VARCHAR(64); longer text would be cut (or refused) by MySQL.
    if store_plaintext and len(password) > 64:
        raise BadInput(
            "the password is longer than 64 characters (the subscriber.password column)",
            hint="use a shorter one, or turn plain-text storage off (STORE_PLAINTEXT_PW=0)",
        )
    return password


def credential_columns(
    user: User, password: str, *, store_plaintext: bool, algorithm: str = "MD5"
) -> dict[str, str]:
    """The ``password``, ``ha1`` and ``ha1b`` column values kamctl writes for ``user``.

    ``algorithm`` follows kamctl's MD5 variable (the program it hashes with): MD5 as
    ``md5sum``, SHA-256 as ``sha256sum`` (for auth with ``algorithm=SHA-256``).
    """
    from kamtool.sip.ha1 import ha1, ha1b  # imported here: only writers need it

    check_password(password, store_plaintext=store_plaintext)
    return {
        "password": password if store_plaintext else "",
        "ha1": ha1(user.username, user.domain, password, algorithm),
        "ha1b": ha1b(user.username, user.domain, password, algorithm),
    }
