"""Digest hash algorithms and the HA1 values a subscriber table stores.

The part of :mod:`kamtool.sip.digest` that writers of subscriber rows need (``kamtool add``,
``passwd``, CSV import): importing it costs a hash table, not digest's parsers, slotted
dataclasses and nonce machinery (about 3 ms a command). :mod:`kamtool.sip.digest` re-exports
every name, so ``digest.ha1`` and ``digest.DigestParseError`` are these objects.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

__all__ = ["ALGORITHMS", "HASHES", "DigestParseError", "canon_algorithm", "ha1", "ha1b", "hasher"]


class DigestParseError(ValueError):
    """A WWW-Authenticate / Authorization value that is not a well-formed Digest one."""


# Algorithm token (case-insensitive, RFC 7616 §3.3) -> hashlib name. "-sess" variants share it.
HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
ALGORITHMS = tuple(a for base in HASHES for a in (base, base + "-sess"))


def canon_algorithm(algorithm: str | None) -> str:
    """Canonical spelling of an algorithm token; absent means MD5 (RFC 2617 §3.2.1)."""
    if not algorithm:
        return "MD5"
    up = algorithm.upper()
    base = up[:-5] if up.endswith("-SESS") else up
    if base not in HASHES:
        raise DigestParseError(f"unsupported digest algorithm {algorithm!r}")
    return up[: len(base)] + ("-sess" if up.endswith("-SESS") else "")


@functools.lru_cache(maxsize=64)  # a handful of spellings; every digest check asks
def hasher(algorithm: str | None) -> Callable[[str], str]:
    """H() of an algorithm token (hex digest of the UTF-8 text)."""
    name = HASHES[canon_algorithm(algorithm).removesuffix("-sess")]
    # the named constructor (hashlib.md5) is quicker than hashlib.new("md5")
    new = getattr(hashlib, name, None) or functools.partial(hashlib.new, name)

    def h(data: str) -> str:
        return new(data.encode("utf-8")).hexdigest()

    return h


def ha1(user: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """H(user ":" realm ":" password): Kamailio's ``ha1`` column (kamctl, with realm = domain)."""
    return hasher(algorithm)(f"{user}:{realm}:{password}")


def ha1b(user: str, domain: str, password: str, algorithm: str = "MD5") -> str:
    """H(user "@" domain ":" domain ":" password): Kamailio's ``ha1b`` column.

    It is the HA1 a client gets when it sends ``username="user@domain"`` with realm = domain.
    """
    return hasher(algorithm)(f"{user}@{domain}:{domain}:{password}")
