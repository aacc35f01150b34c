"""``KSR.rtpengine``: Kamailio's rtpengine functions for route scripts, over the proxy's
RTPEngine set (:class:`kamtool.proxy.rtpengine.RtpEngine`, ``[proxy] rtpengine``).

Each call rewrites the SDP of the route's message in place (offer, answer) or ends the
call's media session (delete). The ng exchange runs through :func:`wait_async`: from a
request route on the event loop, by RTPEngine's asyncio client, while the route's
greenlet waits (off the database worker: a slow database does not delay media control,
nor a slow RTPEngine the database); from a reply route inline, blocking, as Kamailio's
worker blocks. Return
codes are Kamailio's: 1 done, -1 not done (no RTPEngine configured, none answered, an
error reply, or a message without the SDP the command needs).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from kamtool.errors import KamtoolError
from kamtool.proxy.ksr.context import ONREPLY, REPLY, state, wait_async
from kamtool.sip.ng import has_sdp, manage_action

__all__ = ["rtpengine_functions"]

log = logging.getLogger(__name__)


def _engine() -> Any:
    return getattr(state.ctx.parts, "rtpengine", None)


def _run(start: Any, inline: Any, what: str) -> int:
    """Do an ng request: in a request route on the event loop (RTPEngine's asyncio
    client: neither waiting behind database jobs nor holding them up), elsewhere
    blocking, as Kamailio's worker blocks."""
    try:
        wait_async(start, inline)
    except KamtoolError as exc:  # unavailable, error reply, bad flags: logged, -1
        log.warning("%s: %s", what, exc)
        return -1
    except Exception as exc:  # the worker refused it (database away): the call goes on
        log.warning("%s: not done: %s", what, exc)
        return -1
    return 1


def _source() -> str | None:
    addr = state.ctx.addr
    return addr[0] if addr else None


def rtpengine_manage(flags: str = "") -> int:
    """Offer, answer or delete as the message calls for (INVITE/UPDATE with SDP: offer;
    its 1xx/2xx with SDP: answer, or offer when the request had none; BYE, CANCEL and a
    failed INVITE: delete); -1 when there is nothing to do."""
    engine = _engine()
    if engine is None:
        return -1
    ctx = state.ctx
    had_sdp = True
    if ctx.kind in (REPLY, ONREPLY) and ctx.stx is not None:
        had_sdp = has_sdp(ctx.stx.request)
    if manage_action(ctx.msg, had_sdp) is None:
        return -1
    args = (ctx.msg, str(flags), had_sdp, _source())
    return _run(partial(engine.manage, *args), partial(engine.manage_blocking, *args),
                "rtpengine_manage")  # fmt: skip


def _command(command: str) -> Any:
    def fn(flags: str = "") -> int:
        engine = _engine()
        if engine is None:
            return -1
        args = (state.ctx.msg, str(flags), _source())
        return _run(partial(getattr(engine, command), *args),
                    partial(engine.rewrite_blocking, command, *args),
                    f"rtpengine_{command}")  # fmt: skip

    fn.__name__ = f"rtpengine_{command}"
    fn.__doc__ = f"rtpengine_{command}(flags): the ng ``{command}`` of the route's message."
    return fn


def rtpengine_functions() -> dict[str, Any]:
    return dict(
        rtpengine_manage=rtpengine_manage,
        rtpengine_offer=_command("offer"),
        rtpengine_answer=_command("answer"),
        rtpengine_delete=_command("delete"),
    )
