"""Which worker owns a message's state, read from the message itself (sans-IO).

With ``--workers N`` the kernel spreads datagrams over the workers by the sender's address
(SO_REUSEPORT hashes the 4-tuple), so everything a phone sends from one port (INVITE, its
retransmissions, CANCEL, the ACK of a non-2xx) reaches the worker that holds its server
transaction. What comes from *another* address needs a mark saying where its state is:

* a **reply** answers a request we sent: our Via is on top, and its branch starts with
  ``z9hG4bKw<index>x`` (:func:`branch_prefix`);
* an **in-dialog request** (ACK for 2xx, BYE, re-INVITE) carries our Record-Route back as
  its top Route, with ``;kw=<index>`` (:func:`rr_param`).

:func:`owner_of_bytes` reads that mark from a datagram without parsing it (a scan of the
header bytes: most messages have no Route and their owner is the receiver);
:func:`owner_of_message` reads it from a parsed message (TCP, TLS and WebSocket deliver
those). Both answer None when the message names no worker: the receiver handles it.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["RR_PARAM", "branch_prefix", "owner_of_bytes", "owner_of_message", "rr_param"]

BRANCH_MARK = "z9hG4bKw"  # RFC 3261 magic cookie, then our "w<index>x"
RR_PARAM = "kw"  # Record-Route URI parameter: the worker that owns the dialog
_BRANCH = b"branch="
_COOKIE = BRANCH_MARK.encode()
_KW = b";" + RR_PARAM.encode() + b"="
# a Route header line (not Record-Route: the match starts right after a line break)
_ROUTE_LINE = re.compile(rb"\n[Rr][Oo][Uu][Tt][Ee][ \t]*:([^\r\n]*)")


def branch_prefix(index: int, nonce: str) -> str:
    """The start of every branch worker ``index`` makes (``nonce``: its random part)."""
    return f"{BRANCH_MARK}{index}x{nonce}."


def rr_param(index: int) -> str:
    """The Record-Route parameter naming worker ``index`` (``;kw=1``)."""
    return f";{RR_PARAM}={index}"


def _digits(data: bytes, start: int) -> int | None:
    end = start
    while end < len(data) and 48 <= data[end] <= 57 and end - start < 3:
        end += 1
    return int(data[start:end]) if end > start else None


def _from_branch(branch: str | None) -> int | None:
    if not branch or not branch.startswith(BRANCH_MARK):
        return None
    digits = branch[len(BRANCH_MARK) : branch.find("x", len(BRANCH_MARK))]
    return int(digits) if digits.isdigit() else None


def owner_of_bytes(data: bytes) -> int | None:
    """The worker a datagram's mark names, or None (see module docstring)."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        head_end = len(data)
    if data.startswith(b"SIP/2.0 "):
        # Via is the only header with a branch parameter, and its first value is the top
        # one: the first "branch=" is our own Via's
        at = data.find(_BRANCH, 0, head_end)
        if at < 0 or not data.startswith(_COOKIE, at + len(_BRANCH)):
            return None
        return _digits(data, at + len(_BRANCH) + len(_COOKIE))
    if data.find(_KW, 0, head_end) < 0:
        return None  # no Route of ours with a mark: an initial request (the usual case)
    found = _ROUTE_LINE.search(data, 0, head_end)
    if found is None:
        return None
    value = found.group(1)
    first = value[: value.find(b">")] if b">" in value else value.split(b",", 1)[0]
    at = first.find(_KW)
    return None if at < 0 else _digits(first, at + len(_KW))


def owner_of_message(msg: Any) -> int | None:
    """The worker a parsed message's mark names, or None."""
    try:
        if not msg.is_request:
            via = msg.top_via
            return _from_branch(via.branch if via is not None else None)
        routes = msg.routes
        if not routes:
            return None
        params = getattr(routes[0].uri, "params", None) or {}
        value = params.get(RR_PARAM)
        return int(value) if isinstance(value, str) and value.isdigit() else None
    except Exception:  # a header the router will refuse: it answers, here nothing is owned
        return None
