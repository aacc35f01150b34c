"""``KSR.textopsx``: Kamailio's textopsx module for KEMI scripts — a reply's status changed
in an onreply route (``change_reply_status``, ``change_reply_status_code``), the body
removed (``remove_body``), every header but the essential ones and those a regex names
removed (``keep_hf``, ``keep_hf_re``), shell-pattern matching (``fnmatch``) and
``remove_hf_value``/``msg_apply_changes``, with textopsx 5.6's return codes.

As Kamailio, a reply's status can change within its class only when either code is below
300 (a 180 cannot become a 200, nor a 200 a 486); finals from 300 up change freely.
"""

from __future__ import annotations

import fnmatch as _fnmatch
from typing import Any

from kamtool.proxy.ksr.context import state
from kamtool.proxy.ksr.textops import compile_re
from kamtool.sip.header_fields import Headers
from kamtool.sip.headers import canonical_name
from kamtool.sip.message import Response

__all__ = ["textopsx_functions"]

# the headers keep_hf() never removes (textopsx's list)
ESSENTIAL = frozenset(("from", "to", "call-id", "cseq", "via", "contact", "content-length",
                       "content-type", "route", "record-route", "max-forwards"))  # fmt: skip


def _new_status(code: int) -> Response | None:
    """The reply in hand when ``code`` may replace its status, else None (logged)."""
    msg = state.ctx.msg
    if not isinstance(msg, Response) or not 100 <= code <= 699:
        return None
    if (code < 300 or msg.status < 300) and code // 100 != msg.status // 100:
        return None  # the class of a provisional or positive final reply is kept
    return msg


def change_reply_status(code: int, reason: str) -> int:
    """A new status and reason phrase for the reply in hand: 1, or -1 (not a reply, an
    empty reason, a code out of range or a class that may not change)."""
    reason = str(reason)
    msg = _new_status(int(code))
    if msg is None or not reason or "\r" in reason or "\n" in reason:
        return -1
    msg.status, msg.reason = int(code), reason
    return 1


def change_reply_status_code(code: int) -> int:
    """A new status code, the reason phrase kept."""
    msg = _new_status(int(code))
    if msg is None:
        return -1
    msg.status = int(code)
    return 1


def remove_body() -> int:
    """Remove the body (Content-Length follows; Content-Type stays, as in Kamailio): 1."""
    state.ctx.msg.body = b""
    return 1


def _keep(pattern: Any) -> int:
    msg = state.ctx.msg
    kept = [(n, v) for n, v in msg.headers
            if canonical_name(n) in ESSENTIAL or (pattern and pattern.search(n))]  # fmt: skip
    if len(kept) != len(msg.headers):
        msg.headers = Headers(kept)
    # (textopsx 5.6 answers -1 even when it removed what it should; kamtool answers 1)
    return 1


def keep_hf() -> int:
    """Remove every header but the essential ones (Via, From, To, Call-ID, CSeq, Contact,
    Route, Record-Route, Max-Forwards, Content-Type, Content-Length)."""
    return _keep(None)


def keep_hf_re(regex: str) -> int:
    """Also keep the headers whose name matches ``regex`` (POSIX, case-insensitive)."""
    return _keep(compile_re(str(regex)) if str(regex) else None)


def fnmatch_ex(value: str, pattern: str, flags: str = "") -> int:
    """0 when ``value`` matches the shell pattern (``*``, ``?``, ``[...]``; flag ``i``:
    case-insensitive), -1 when not.

    0, not 1, is textopsx 5.6's answer to a match (its docs say true): KEMI scripts that
    work on Kamailio test ``== 0``, so kamtool answers the same. Its flag ``i`` needs
    FNM_CASEFOLD, which Debian's build lacks (the flag is ignored there); kamtool honours
    it, as documented."""
    text, pat = str(value), str(pattern)
    if str(flags)[:1] in ("i", "I"):
        text, pat = text.lower(), pat.lower()
    return 0 if _fnmatch.fnmatchcase(text, pat) else -1


def remove_hf_value(name: str) -> int:
    return 1 if state.ctx.msg.headers.remove(str(name)) else -1


def textopsx_functions() -> dict[str, Any]:
    """``KSR.textopsx``."""
    return dict(
        change_reply_status=change_reply_status, change_reply_status_code=change_reply_status_code,
        remove_body=remove_body, keep_hf=keep_hf, keep_hf_re=keep_hf_re,
        fnmatch=lambda value, pattern: fnmatch_ex(value, pattern),
        fnmatch_ex=fnmatch_ex, remove_hf_value=remove_hf_value, msg_apply_changes=lambda: 1,
    )  # fmt: skip
