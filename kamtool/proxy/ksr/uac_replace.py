"""``KSR.uac``'s From/To replacement: ``uac_replace_from/to(display, uri)``,
``uac_replace_from_uri/to_uri(uri)``, ``uac_restore_from/to()``, as Kamailio 5.6's uac
module does them.

The new header is what the request carries as it leaves (each branch), never the request
the route reads: as Kamailio's lumps, ``$fu`` still reads the received From, and the
replies kamtool builds itself (408, 487 ...) carry it too. With ``[proxy]
uac_restore_mode`` "auto" (Kamailio's default) the URI the header had is kept, XORed with
the new one and base64-coded, in a Record-Route parameter (``vsf`` for From, ``vst`` for
To), which needs ``rr_append_fromtag``; then

- every reply of the transaction gets the received header back (the caller sees its own
  From in the 180 and the 200);
- ``loose_route()`` on a Route of ours carrying the parameter swaps the URI of an
  in-dialog request back: the caller's requests get the new URI in From, the callee's
  (its From tag is not the Route's ``ftag``) the caller's original URI in To; and their
  replies get what the sender had written.

"manual" does the last only when the script calls ``uac_restore_from/to()``; "none" keeps
nothing (the replies carry the new header as the callee copied it).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any

from kamtool.proxy.ksr.context import BRANCH, REQUEST, MsgContext, field, state

__all__ = ["apply", "on_loose_route", "reply_hook", "uac_replace_functions", "with_edits"]

log = logging.getLogger("kamtool.route")

RR_PARAM = {"From": "vsf", "To": "vst"}  # uac's rr_from_store_param / rr_to_store_param


# ------------------------------------------------------------------ header text


def split_head(value: str) -> tuple[str, str, str, bool]:
    """(display as written, URI, the rest: ``;tag=..`` and other parameters, whether the
    URI is in ``<>``) of a From/To value."""
    text = value.strip()
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == "<" and not quoted:
            gt = text.find(">", i)
            if gt < 0:
                break
            return text[:i].strip(), text[i + 1 : gt], text[gt + 1 :], True
    uri, sep, rest = text.partition(";")  # an addr-spec: its parameters are the header's
    return "", uri.strip(), sep + rest, False


def _head(display: str, uri: str, enclosed: bool) -> str:
    if not enclosed:
        return uri
    return f"{display} <{uri}>" if display else f"<{uri}>"


def _xor(a: bytes, b: bytes) -> bytes:
    """The longer of the two with the shorter XORed over its start."""
    long, short = (a, b) if len(a) >= len(b) else (b, a)
    return bytes(c ^ short[i] if i < len(short) else c for i, c in enumerate(long))


def encode(old: str, new: str) -> str:
    """The Record-Route value: old XOR new in base64, ``-`` for the padding (a ``=``
    cannot be in a URI parameter's value)."""
    return base64.b64encode(_xor(old.encode(), new.encode())).decode().replace("=", "-")


def decode(param: str, current: str) -> str | None:
    """The other URI of the pair ``param`` holds, given the one the header has now; None
    when the value is not one of ours (bad base64, shorter than ``current``, or a result
    that is not printable: altered by an endpoint, as uac warns)."""
    try:
        raw = base64.b64decode(param.replace("-", "="), validate=True)
    except (binascii.Error, ValueError):
        return None
    cur = current.encode()
    if not cur or len(raw) < len(cur):
        return None
    out = bytearray(raw)
    for i, c in enumerate(cur):
        out[i] ^= c
        if out[i] == 0:  # the pair's shorter URI ends here
            del out[i:]
            break
    text = out.decode("latin-1")
    return text if text and text.isprintable() else None


# ------------------------------------------------------------------ edits on the way out


def _edits(ctx: MsgContext) -> dict[str, str]:
    if ctx.uac_edits is None:
        ctx.uac_edits = {}
    return ctx.uac_edits


def apply(msg: Any, edits: dict[str, str]) -> None:
    """Set the edited headers on ``msg`` (a branch's request, or a 2xx's ACK)."""
    for name, value in edits.items():
        msg.headers.set(name, value)


def with_edits(build: Callable[..., Any], edits: dict[str, str]) -> Callable[..., Any]:
    """The transaction's ``build`` with the new From/To on every branch it makes."""

    def build_edited(stx: Any, target: Any, branch: str) -> Any:
        out = build(stx, target, branch)
        apply(out, edits)
        return out

    return build_edited


def reply_hook(headers: list[str], inner: Callable[..., Any] | None) -> Callable[..., Any]:
    """The transaction's ``on_response``: each reply's ``headers`` get the display name
    and URI the received request had (their tag stays), before ``inner`` runs."""

    def on_response(stx: Any, branch: Any, resp: Any) -> Any:
        for name in headers:
            mine, theirs = stx.request.headers.get(name), resp.headers.get(name)
            if mine and theirs:
                display, uri, _, enclosed = split_head(mine)
                resp.headers.set(name, _head(display, uri, enclosed) + split_head(theirs)[2])
        return inner(stx, branch, resp) if inner is not None else None

    return on_response


# ------------------------------------------------------------------ replace


def _mode(ctx: MsgContext) -> str:
    return str(getattr(ctx.parts.config, "uac_restore_mode", "auto")).lower()


def _replace(name: str, display: str | None, uri: str | None) -> int:
    ctx = state.ctx
    msg = ctx.msg
    edits = _edits(ctx)
    if ctx.kind == REQUEST and name in (ctx.uac_replies or ()):  # (as uac: not in "none")
        log.error("uac_replace_%s() called twice on the message", name.lower())
        return -1
    mode = _mode(ctx)
    if uri and mode == "auto" and field(msg, "to_tag"):
        log.error("uac: no %s replacement in an in-dialog request in auto mode", name)
        return -1
    value = edits.get(name) or msg.headers.get(name)
    if value is None:
        return -1
    old_display, old_uri, rest, enclosed = split_head(value)
    new_display = old_display if display is None else display.strip()
    new_uri = uri or old_uri
    if new_display or ";" in new_uri:
        enclosed = True
    new_value = _head(new_display, new_uri, enclosed) + rest
    if ctx.kind == BRANCH:
        msg.headers.set(name, new_value)  # a branch route edits that branch's own copy
        return 1
    if uri and mode != "none":
        if mode == "auto":
            if not ctx.parts.config.rr_append_fromtag:
                log.error("uac: auto restore mode needs [proxy] rr_append_fromtag")
                return -1
            ctx.rr_params += f";{RR_PARAM[name]}={encode(old_uri, new_uri)}"
        ctx.uac_replies = [*(ctx.uac_replies or ()), name]
    edits[name] = new_value
    return 1


def _restore(ctx: MsgContext, check_from: bool) -> int:
    """uac's restore: 1 when the Route of ours carried the parameter and the URI was
    swapped back, else -1."""
    params = ctx.route_params or {}
    value = params.get(RR_PARAM["From" if check_from else "To"])
    if not value:
        return -1
    ftag = params.get("ftag")
    upstream = bool(ftag) and ftag != field(ctx.msg, "from_tag")
    # the callee's requests have the header the caller's From became as their To
    name = "To" if upstream == check_from else "From"
    edits = _edits(ctx)
    current = edits.get(name) or ctx.msg.headers.get(name)
    if current is None:
        return -1
    display, uri, rest, enclosed = split_head(current)
    other = decode(str(value), uri)
    if other is None:
        log.warning("uac: cannot restore %s from the Route's %s", name, value)
        return -1
    ctx.rr_params += f";{RR_PARAM['From' if check_from else 'To']}={value}"
    edits[name] = _head(display, other, enclosed or ";" in other) + rest
    if name not in (ctx.uac_replies or ()):
        ctx.uac_replies = [*(ctx.uac_replies or ()), name]
    return 1


def on_loose_route(ctx: MsgContext) -> None:
    """loose_route() took a Route of ours: in auto mode, the From/To URIs it stored are
    swapped back (the rr callback of Kamailio's uac)."""
    params = ctx.route_params or {}
    if ("vsf" in params or "vst" in params) and _mode(ctx) == "auto":
        _restore(ctx, True)
        _restore(ctx, False)


def _request_only(check_from: bool) -> Callable[[], int]:
    def restore() -> int:
        ctx = state.ctx
        if ctx.kind not in (REQUEST, BRANCH) or ctx.reply is not None:
            return -1
        return _restore(ctx, check_from)

    restore.__name__ = "uac_restore_from" if check_from else "uac_restore_to"
    return restore


def uac_replace_functions() -> dict[str, Any]:
    """``KSR.uac``'s replace/restore functions (1 on success, -1 otherwise)."""
    return {
        "uac_replace_from": lambda display, uri: _replace("From", str(display), str(uri)),
        "uac_replace_to": lambda display, uri: _replace("To", str(display), str(uri)),
        "uac_replace_from_uri": lambda uri: _replace("From", None, str(uri)),
        "uac_replace_to_uri": lambda uri: _replace("To", None, str(uri)),
        "uac_restore_from": _request_only(True),
        "uac_restore_to": _request_only(False),
    }
