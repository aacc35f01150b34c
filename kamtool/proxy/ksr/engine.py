"""Run a route script's routes for the proxy's messages.

* every request: ``ksr_request_route`` in its own greenlet (see
  :mod:`kamtool.proxy.ksr.context`), so a route that waits for the database lets the
  loop serve other traffic;
* every reply: ``ksr_reply_route`` (when defined; ``set_drop()`` drops the reply),
  then tm's matching and relaying;
* the tm routes the request route armed: branch (per branch, on that branch's copy of
  the request, before it is sent), onreply (per reply a branch receives), failure (when
  every branch failed; ``t_relay()`` there adds a branch).

An exception in a route: the request gets 500 (unless the route answered or relayed it
already), the traceback is logged once per place in the script it came from, and the
proxy goes on. A request the route neither answers nor relays is dropped, as Kamailio
drops it at the end of its request_route.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from kamtool.proxy.codec import ParseFailure
from kamtool.proxy.ksr.context import (
    BRANCH,
    DONE,
    FAILURE,
    ONREPLY,
    REPLY,
    MsgContext,
    RouteGreenlet,
    enter,
    request_key,
    state,
)
from kamtool.proxy.script import LegacyMessage, RouteScript, load_script
from kamtool.sip.errors import ParseError

log = logging.getLogger("kamtool.route")

POOL_SIZE = 256  # idle route greenlets kept for reuse (more are made while routes wait)


def engine_for(path: str) -> Any:
    """Load the script at ``path`` (ConfigError when it is broken) and return
    ``make(parts)``: the engine running it over a proxy's parts."""
    script = load_script(path)

    def make(parts: Any) -> ScriptEngine:
        return ScriptEngine(parts, script)

    return make


class ScriptEngine:
    """The proxy's routes as a script's functions (see module docstring)."""

    def __init__(self, parts: Any, script: RouteScript) -> None:
        self.parts = parts  # kamtool.proxy.parts.Parts
        self.script = script
        self.processing: dict[tuple[Any, ...], MsgContext] = {}  # t_precheck_trans
        self._reported: set[tuple[Any, ...]] = set()
        self.reloads = 0
        self._pool: list[RouteGreenlet] = []  # idle route greenlets (this loop's thread)
        self._request_route = script.route("ksr_request_route")
        self._reply_route = script.route("ksr_reply_route")

    def reload(self) -> str:
        """Load the script again (``app_python3.reload``): new messages run the new
        routes; transactions and dialogs in flight keep going (their tm routes are
        looked up by name in the new script)."""
        self.script = load_script(self.script.path)
        self._request_route = self.script.route("ksr_request_route")
        self._reply_route = self.script.route("ksr_reply_route")
        self.reloads += 1
        self._reported.clear()
        return self.script.path

    # ------------------------------------------------------------------ requests

    def request(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        """Route one request (kamtool.proxy.engine parsed and counted it)."""
        self.parts.codec.mark_received(req, addr)
        ctx = MsgContext(self, self.parts, req, endpoint, addr)
        pool = self._pool
        self.resume(pool.pop() if pool else RouteGreenlet(), ctx, (self._run_request, ctx))

    def resume(self, g: RouteGreenlet, ctx: MsgContext, value: Any) -> None:
        """Run ``g`` (a route, or its answer from the database) until the route ends
        (the greenlet goes back to the pool) or waits again."""
        if enter(g, ctx, value) is DONE and len(self._pool) < POOL_SIZE:
            self._pool.append(g)

    def _run_request(self, ctx: MsgContext) -> None:
        try:
            self._invoke(ctx, "ksr_request_route", self._request_route)
            if ctx.msg.method == "ACK" and not ctx.forwarded and ctx.match() is not None:
                self.parts.counters.drop_req.value += 1  # an ACK nobody wanted
        finally:
            key = ctx.pkey
            if key is not None and self.processing.get(key) is ctx:
                del self.processing[key]

    def precheck(self, ctx: MsgContext) -> bool:
        """t_precheck_trans: True when another copy of ``ctx``'s request is in a route;
        else ``ctx`` is marked as the one being routed. With no route waiting there is
        no other copy, and this one is marked only if it comes to wait (``suspended``):
        most requests never build the key."""
        if not self.processing:
            return False
        return self._mark(ctx)

    def _mark(self, ctx: MsgContext) -> bool:
        key = ctx.pkey or request_key(self.parts.codec, ctx.msg, ctx.addr)
        other = self.processing.get(key)
        if other is not None and other is not ctx:
            return True
        self.processing[key] = ctx
        ctx.pkey = key
        return False

    def suspended(self, ctx: MsgContext, waiting: bool) -> None:
        """A request route waits for the database (``waiting``) or goes on: while it
        waits, copies of its request are what t_precheck_trans reports."""
        if waiting and ctx.kind == "request" and ctx.pkey is None:
            self._mark(ctx)

    # ------------------------------------------------------------------ replies

    def response(self, resp: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        """``ksr_reply_route`` first (when the script has one), then tm."""
        if self._reply_route is not None:
            ctx = MsgContext(self, self.parts, resp, endpoint, addr, kind=REPLY)
            self._run_inline(ctx, "ksr_reply_route")
            if ctx.drop:
                self.parts.counters.drop_rpl.value += 1
                return
        self.parts.replies.route(resp, endpoint, addr)

    def onreply_hook(self, name: str, inner: Any, origin: MsgContext) -> Any:
        """The transaction's ``on_response``: ``inner`` (dialog), then route ``name``, for
        every reply a branch receives (provisional and final, as tm runs onreply_route).
        The route sees the transaction's flags and AVPs (dialog variables among them) and
        ``$T_reply_code``; the branch flags are the request's, plus the cflags of the
        branch's contact (as lookup() loads them). True when the route dropped a
        provisional reply (a final one cannot be dropped: tm would wait forever)."""

        def on_response(stx: Any, branch: Any, resp: Any) -> bool:
            if inner is not None:
                inner(stx, branch, resp)
            proto, host, port = branch.target.dest
            binding = branch.target.binding
            bflags = origin.bflags | (binding.cflags if binding is not None else 0)
            ctx = MsgContext(self, self.parts, resp, _peer(proto, stx), (host, port), kind=ONREPLY,
                             stx=stx, flags=stx.flags, bflags=bflags, reply_code=resp.status,
                             avps_=origin.avps, branch_idx=stx.branches.index(branch))  # fmt: skip
            self._run_inline(ctx, name)
            return ctx.drop and resp.status < 200

        return on_response

    def failure_hook(self, name: str, origin: MsgContext) -> Any:
        """The transaction's ``on_failure``: route ``name``; the branches it adds. The
        route sees the request as the request route left it (``$du`` too) and the
        transaction's AVPs."""

        def on_failure(stx: Any, branch: Any) -> list[Any] | None:
            best = stx.best()
            ctx = MsgContext(self, self.parts, stx.request, stx.endpoint, origin.addr,
                             kind=FAILURE, stx=stx, flags=stx.flags, bflags=origin.bflags,
                             reply=best.final, reply_code=best.status, failed_branch=branch,
                             avps_=origin.avps, vars_=dict(origin.vars),
                             dst_uri=origin.dst_uri)  # fmt: skip
            self._run_inline(ctx, name)
            if stx.completed or not ctx.new_targets:
                return None
            stx.flags |= ctx.flags
            stx.on_failure = self.failure_hook(ctx.on_failure, ctx) if ctx.on_failure else None
            stx.branch_route = ctx.on_branch  # armed again here, or none for the new branches
            return ctx.new_targets

        return on_failure

    def branch_builder(self, ctx: MsgContext, in_dialog: bool) -> Any:
        """The transaction's ``build``: the branch route armed (``stx.branch_route``) on a
        copy of the request, then the branch from that copy: what a branch route changes
        (headers, ``$ru``) is that branch's alone, as tm runs it on each branch's copy."""
        branches = self.parts.branches
        base = branches.in_dialog if in_dialog else branches.initial

        def build(stx: Any, target: Any, branch: str) -> Any:
            name = stx.branch_route
            if not name:
                return base(stx, target, branch)
            original = stx.request
            request = original.copy()
            bctx = MsgContext(self, self.parts, request, stx.endpoint, ctx.addr,
                              kind=BRANCH, stx=stx, flags=stx.flags, bflags=ctx.bflags,
                              branch_idx=len(stx.branches), avps_=ctx.avps,
                              dst_uri=ctx.dst_uri)  # fmt: skip
            self._run_inline(bctx, name)
            if request.uri_text != original.uri_text:  # $ru set in the branch route
                target = replace(target, uri=request.uri_text)
            stx.request = request
            try:
                return base(stx, target, branch)
            finally:
                stx.request = original

        return build

    # ------------------------------------------------------------------ running

    def _run_inline(self, ctx: MsgContext, name: str) -> None:
        prev = state.ctx
        state.ctx = ctx
        try:
            self._call(ctx, name)
        finally:
            state.ctx = prev

    def _call(self, ctx: MsgContext, name: str) -> None:
        fn = self.script.route(name)
        if fn is not None:  # a route the script does not define is skipped
            self._invoke(ctx, name, fn)

    def _invoke(self, ctx: MsgContext, name: str, fn: Any) -> None:
        try:
            if self.script.takes_msg:
                fn(LegacyMessage(ctx))
            else:
                fn()
        except SystemExit:
            pass  # KSR.x.exit(), sys.exit(): the route ends here
        except (ParseFailure, ParseError) as exc:
            if ctx.kind == "request" and not ctx.replied:
                self.parts.sl.route_failed(ctx.msg, ctx.endpoint, ctx.addr, exc)
        except Exception as exc:
            self._report(ctx, name, exc)
            if ctx.kind == "request" and not _handled(ctx) and ctx.msg.method != "ACK":
                from kamtool.proxy.ksr.msgops import reply

                try:
                    reply(ctx, 500, "Server Internal Error", error=True, stateful=True)
                except Exception:
                    log.debug("cannot answer 500 after a route error", exc_info=True)

    def _report(self, ctx: MsgContext, name: str, exc: Exception) -> None:
        """The traceback once per place in the script (then a short line at debug)."""
        frames = traceback.extract_tb(exc.__traceback__)
        mine = [f for f in frames if f.filename == self.script.path] or frames
        site = (type(exc).__name__, mine[-1].filename, mine[-1].lineno) if mine else (name,)
        what = f"{ctx.msg.method if ctx.msg.is_request else ctx.msg.status}"
        if site in self._reported:
            log.debug("route %s failed again (%s): %s", name, what, exc)
            return
        self._reported.add(site)
        log.error("route %s failed for %s from %s:%s: %s", name, what, ctx.addr[0], ctx.addr[1],
                  exc, exc_info=exc)  # fmt: skip


def _handled(ctx: MsgContext) -> bool:
    """True when the request was answered or relayed already."""
    stx = ctx.stx
    return ctx.replied or (stx is not None and (bool(stx.branches) or stx.completed))


def _peer(proto: str, stx: Any) -> Any:
    """What a reply route sees of the socket a reply came on."""
    listen = getattr(stx.endpoint, "listen", None)
    return SimpleNamespace(proto=proto, listen=listen)
