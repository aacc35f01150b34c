"""Kamailio's core string hash, so ids that Kamailio derives from it match.

Kamailio numbers dialogs (``h_entry``: hash of the Call-ID over 4096 buckets), usrloc
records (``HashID``: the full 32-bit hash of the AoR), htable slots (``entry``: hash of the
key, case-insensitive, over ``2**size`` slots) and permissions' address table (``table``:
hash of the binary IP over 128 buckets) with the same function. Using it too makes our RPC
answers carry the numbers a real Kamailio would give for the same data, which the tests
check against the captures in the reference material.

The function reads the input as big-endian 32-bit words, mixes each with itself shifted
right by 3 into a running sum, does the same with the leftover octets as one short word,
and folds the sum at the end.
"""

from __future__ import annotations

__all__ = ["core_hash", "fold", "word_sum"]

_MASK = 0xFFFFFFFF


def core_hash(data: bytes | str, size: int = 0, *, ignore_case: bool = False) -> int:
    """Kamailio's ``core_hash`` (``core_case_hash`` with ``ignore_case``).

    ``size`` must be 0 (the whole 32-bit value) or a power of two (a bucket number).
    """
    # (surrogateescape: a parsed Call-ID keeps bytes that are not UTF-8 as surrogates;
    # hashed as those bytes, as Kamailio hashes the raw header)
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    if ignore_case:
        raw = raw.lower()
    h = fold(word_sum(raw))
    return h & (size - 1) if size else h


def word_sum(raw: bytes) -> int:
    """The running sum over one string, before :func:`fold` (the dispatcher hashes two
    strings into one sum)."""
    # Kamailio reads the bytes through a (signed, on x86) char pointer: an octet >= 0x80
    # enters the word as a negative number. ASCII text is unaffected; binary addresses
    # (permissions) are, and the captures show Kamailio's numbers follow the signed reading.
    octets = [b - 256 if b & 0x80 else b for b in raw] if not raw.isascii() else raw
    h = 0
    whole = len(octets) & ~3
    for i in range(0, whole, 4):
        v = (
            (octets[i] << 24) + (octets[i + 1] << 16) + (octets[i + 2] << 8) + octets[i + 3]
        ) & _MASK
        h += v ^ (v >> 3)
    tail = 0  # the leftover 0-3 octets as one word (0 when there are none, as in Kamailio)
    for octet in octets[whole:]:
        tail = ((tail << 8) + octet) & _MASK
    return (h + (tail ^ (tail >> 3))) & _MASK


def fold(h: int) -> int:
    """The final mixing step of Kamailio's string hashes."""
    h &= _MASK
    return ((h + (h >> 11)) + ((h >> 13) + (h >> 23))) & _MASK
