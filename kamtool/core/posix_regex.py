"""POSIX regular expressions compiled by the C library, as Kamailio's C code compiles them.

Kamailio's permissions module matches the ``trusted`` table's ``from_pattern`` and
``ruri_pattern`` with ``regcomp(pattern, REG_NOSUB)``: a POSIX *basic* expression, where
``+ ? | ( ) { }`` are plain characters and ``\\+ \\? \\| \\( \\)`` are GNU's operators.
Python's ``re`` reads the same text otherwise, and more permissively where it counts: the
pattern ``^sip:gw|carrier`` trusts only a literal ``gw|carrier`` in Kamailio, and any URI
containing ``carrier`` in ``re``, which lets a request skip authentication that Kamailio
would challenge. So these patterns go through libc's own ``regcomp``/``regexec``
(ctypes), and a pattern means on kamtool exactly what it means on Kamailio.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache

__all__ = ["BASIC", "EXTENDED", "ICASE", "KAMAILIO_ERE", "NEWLINE", "PosixRegex",
           "PosixRegexError", "compile_regex", "search"]

# the flags' values are the platform's (glibc and musl share these; macOS swaps two)
if sys.platform == "darwin":
    _REG_EXTENDED, _REG_ICASE, _REG_NOSUB, _REG_NEWLINE = 1, 2, 4, 8
else:
    _REG_EXTENDED, _REG_ICASE, _REG_NOSUB, _REG_NEWLINE = 1, 2, 8, 4
BASIC = 0
EXTENDED = _REG_EXTENDED
ICASE = _REG_ICASE
NEWLINE = _REG_NEWLINE
# how tm (t_check_status) and htable (the "re" operators) compile their expressions
KAMAILIO_ERE = EXTENDED | ICASE | NEWLINE

_REGEX_T_SIZE = 256  # more than any libc's regex_t (glibc x86-64: 64 bytes)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
_libc.regcomp.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int)
_libc.regcomp.restype = ctypes.c_int
_libc.regexec.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                          ctypes.c_int)  # fmt: skip
_libc.regexec.restype = ctypes.c_int
_libc.regerror.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t)
_libc.regerror.restype = ctypes.c_size_t
_libc.regfree.argtypes = (ctypes.c_void_p,)
_libc.regfree.restype = None


class PosixRegexError(ValueError):
    """The C library refused the pattern; the message is its ``regerror`` text."""


class PosixRegex:
    """One compiled pattern (``flags``: :data:`BASIC` or :data:`EXTENDED`, with
    :data:`ICASE` and :data:`NEWLINE`); :meth:`search` is ``regexec`` finding it anywhere
    in a text."""

    def __init__(self, pattern: str, flags: int = BASIC) -> None:
        self.pattern = pattern
        self._buf = ctypes.create_string_buffer(_REGEX_T_SIZE)
        self._compiled = False
        self._regfree = _libc.regfree  # (at interpreter exit the module's globals are gone)
        raw = pattern.encode("utf-8", "surrogateescape")
        if b"\0" in raw:
            raise PosixRegexError("a pattern cannot contain a NUL character")
        rc = _libc.regcomp(self._buf, raw, flags | _REG_NOSUB)
        if rc != 0:
            msg = ctypes.create_string_buffer(256)
            _libc.regerror(rc, self._buf, msg, len(msg))
            raise PosixRegexError(msg.value.decode("utf-8", "replace") or f"regcomp error {rc}")
        self._compiled = True

    def search(self, text: str) -> bool:
        """True when the pattern matches somewhere in ``text`` (up to a NUL, as in C)."""
        raw = text.encode("utf-8", "surrogateescape").split(b"\0", 1)[0]
        return _libc.regexec(self._buf, raw, 0, None, 0) == 0

    def __del__(self) -> None:
        if self._compiled:
            self._compiled = False
            self._regfree(self._buf)


@lru_cache(maxsize=512)
def compile_regex(pattern: str, flags: int = BASIC) -> PosixRegex:
    """The compiled ``pattern``, kept for the next message (tables hold few patterns)."""
    return PosixRegex(pattern, flags)


def search(pattern: str, text: str, flags: int = BASIC) -> bool:
    """``regcomp(pattern)`` then ``regexec(text)``; PosixRegexError for a bad pattern."""
    return compile_regex(pattern, flags).search(text)
