"""Bencode (the BitTorrent encoding RTPEngine's ng control protocol speaks), sans-IO.

Values map to Python as: integer <-> ``int``, byte string <-> ``bytes`` (``str`` is
encoded as UTF-8 on the way out), list <-> ``list``, dictionary <-> ``dict`` with
``bytes`` keys on the way in (``str`` keys accepted on the way out; keys are written
sorted, as the encoding requires).

:func:`decode` is strict where it matters: trailing bytes, leading zeros, ``-0``,
duplicate keys and nesting deeper than :data:`MAX_DEPTH` raise :class:`BencodeError`
(an ng reply comes from the network and must not be trusted). Unsorted keys are
accepted: RTPEngine writes its reply dictionaries in insertion order.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_DEPTH", "MAX_DIGITS", "BencodeError", "decode", "encode"]

MAX_DEPTH = 64  # deeper than any ng message; bounds recursion on hostile input
MAX_DIGITS = 20  # a 64-bit integer or length; longer is hostile (and slow to convert)


class BencodeError(ValueError):
    """The bytes are not one well-formed bencoded value (or a value cannot be encoded)."""


def encode(value: Any) -> bytes:
    """The bencoding of ``value`` (int, bytes, str, list/tuple, dict)."""
    out: list[bytes] = []
    _encode(value, out, 0)
    return b"".join(out)


def _key(k: Any) -> bytes:
    if isinstance(k, str):
        return k.encode()
    if isinstance(k, bytes):
        return k
    raise BencodeError(f"dictionary key must be str or bytes, not {type(k).__name__}")


def _encode(value: Any, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BencodeError("value nested too deeply")
    if isinstance(value, bool):  # bool is an int subclass, but never meant as one here
        raise BencodeError("booleans have no bencoding; use a flag or 0/1")
    if isinstance(value, int):
        if len(str(abs(value))) > MAX_DIGITS:
            raise BencodeError("integer too large")
        out.append(b"i%de" % value)
    elif isinstance(value, str):
        data = value.encode()
        out.append(b"%d:%s" % (len(data), data))
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        out.append(b"%d:%s" % (len(data), data))
    elif isinstance(value, list | tuple):
        out.append(b"l")
        for item in value:
            _encode(item, out, depth + 1)
        out.append(b"e")
    elif isinstance(value, dict):
        items = sorted((_key(k), v) for k, v in value.items())
        for a, b in zip(items, items[1:], strict=False):
            if a[0] == b[0]:
                raise BencodeError(f"duplicate dictionary key {a[0]!r}")
        out.append(b"d")
        for k, v in items:
            out.append(b"%d:%s" % (len(k), k))
            _encode(v, out, depth + 1)
        out.append(b"e")
    else:
        raise BencodeError(f"cannot bencode a {type(value).__name__}")


def decode(data: bytes) -> Any:
    """The one value ``data`` holds; raises :class:`BencodeError` otherwise."""
    data = bytes(data)
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise BencodeError(f"{len(data) - end} trailing bytes after the value")
    return value


def _int_at(data: bytes, start: int, end: int) -> int:
    digits = data[start:end]
    body = digits[1:] if digits[:1] == b"-" else digits
    if not body.isdigit() or not body.isascii() or len(body) > MAX_DIGITS:
        raise BencodeError(f"bad integer at offset {start}")
    if (len(body) > 1 and body[:1] == b"0") or digits == b"-0":
        raise BencodeError(f"non-canonical integer at offset {start}")
    return int(digits)


def _decode(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise BencodeError("value nested too deeply")
    if pos >= len(data):
        raise BencodeError("truncated value")
    c = data[pos : pos + 1]
    if c == b"i":
        end = data.find(b"e", pos + 1)
        if end < 0:
            raise BencodeError("unterminated integer")
        return _int_at(data, pos + 1, end), end + 1
    if c.isdigit():
        colon = data.find(b":", pos)
        if colon < 0:
            raise BencodeError("string length without ':'")
        n = _int_at(data, pos, colon)
        if n < 0:
            raise BencodeError("negative string length")
        end = colon + 1 + n
        if end > len(data):
            raise BencodeError("truncated string")
        return data[colon + 1 : end], end
    if c == b"l":
        items: list[Any] = []
        pos += 1
        while data[pos : pos + 1] != b"e":
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos + 1
    if c == b"d":
        out: dict[bytes, Any] = {}
        pos += 1
        while data[pos : pos + 1] != b"e":
            if pos >= len(data):
                raise BencodeError("unterminated dictionary")
            key, pos = _decode(data, pos, depth + 1)
            if not isinstance(key, bytes):
                raise BencodeError("dictionary key is not a string")
            if key in out:
                raise BencodeError(f"repeated dictionary key {key!r}")
            out[key], pos = _decode(data, pos, depth + 1)
        return out, pos + 1
    raise BencodeError(f"unexpected byte {c!r} at offset {pos}")
