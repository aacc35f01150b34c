"""``KSR.xlog``: Kamailio's xlog module for KEMI scripts (``xinfo``, ``xerr``, ``xlog`` ...).

The message is a format: every pseudo-variable in it (``$rm``, ``$hdr(X-A)``, ``$(ru)``)
is replaced by its value for the running route, ``<null>`` for one without a value, as
Kamailio's xlog prints them; ``$$`` prints one ``$``. A format Kamailio cannot parse (a
``$`` that starts no variable, as ``5$``) logs nothing and gives -1; otherwise 1, also for
a level the log does not show (``xdbg`` at the default level). An unknown variable
(``$bogus``) is a format error too (-1), as in Kamailio. The log goes to the
``kamtool.route`` logger, where ``KSR.info`` & co. write too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kamtool.proxy.ksr import pv
from kamtool.proxy.ksr.context import NULL_TEXT
from kamtool.proxy.ksr.namespace import KsrNameError
from kamtool.proxy.ksr.pvspec import BadName, pieces

log = logging.getLogger("kamtool.route")


# xlog(level, ...)'s level names (case does not matter); any other name logs as L_ERR
LEVELS = {
    "l_alert": logging.CRITICAL, "l_bug": logging.CRITICAL, "l_crit2": logging.CRITICAL,
    "l_crit": logging.CRITICAL, "l_err": logging.ERROR, "l_warn": logging.WARNING,
    "l_notice": logging.INFO, "l_info": logging.INFO, "l_dbg": logging.DEBUG,
}  # fmt: skip


class FormatError(ValueError):
    """A format with a ``$`` that starts no pseudo-variable Kamailio knows."""


def split_format(text: str) -> list[str | tuple[str]]:
    """The format's pieces: literal text, and ``(spec,)`` for each pseudo-variable."""
    try:
        return pieces(text)
    except BadName:  # "5$", "$ ": Kamailio's parser refuses these
        raise FormatError(f"'$' starts no pseudo-variable in {text!r}") from None


def _value(spec: str) -> str:
    """A pseudo-variable's text as xlog prints it."""
    if spec.startswith("$(") and "{" not in spec and "[" not in spec:
        spec = "$" + spec[2:-1]  # $(hdr(X)) is $hdr(X)
    if not pv.known(spec):
        raise FormatError(f"unknown pseudo-variable {spec}")
    value = pv.get(spec)
    return NULL_TEXT if value is None else str(value)


def render(text: str) -> str:
    """``text`` with its pseudo-variables replaced (FormatError, KsrNameError)."""
    return "".join(p if isinstance(p, str) else _value(p[0]) for p in split_format(text))


def write(level: int, text: str) -> int:
    """Log ``text`` at ``level`` after replacing its variables: 1, or -1 (logged as an
    error, nothing else) for a format Kamailio would refuse too."""
    if not log.isEnabledFor(level):
        return 1  # (Kamailio does not even parse the format then)
    try:
        line = render(str(text))
    except (FormatError, KsrNameError) as exc:
        log.error("xlog: cannot print %r: %s", text, exc)
        return -1
    log.log(level, "%s", line.rstrip("\n"))
    return 1


def _at(level: int, name: str) -> Callable[[str], int]:
    def xlog_at(text: str) -> int:
        return write(level, text)

    xlog_at.__name__ = name
    xlog_at.__doc__ = f"Log the format at {logging.getLevelName(level)} (1, -1 bad format)."
    return xlog_at


def xlog(level: str, text: str) -> int:
    """``xlog("L_WARN", "...")``: the level by Kamailio's name; an unknown one is L_ERR."""
    return write(LEVELS.get(str(level).lower(), logging.ERROR), text)


def xlog_functions() -> dict[str, Any]:
    """``KSR.xlog``: the functions Kamailio 5.6's xlog exports to KEMI."""
    return dict(
        xdbg=_at(logging.DEBUG, "xdbg"), xinfo=_at(logging.INFO, "xinfo"),
        xnotice=_at(logging.INFO, "xnotice"), xwarn=_at(logging.WARNING, "xwarn"),
        xerr=_at(logging.ERROR, "xerr"), xalert=_at(logging.CRITICAL, "xalert"),
        xcrit=_at(logging.CRITICAL, "xcrit"), xlog=xlog,
    )  # fmt: skip
