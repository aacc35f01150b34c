"""The message a route is running for, and how a route waits for the database.

A KEMI script is plain synchronous Python (``if KSR.auth_db.auth_check(...) < 0: ...``)
while the proxy is one event loop. Each request route runs in its own greenlet: a KSR
function that needs the database (:func:`wait_db`) hands the job to the database worker
and switches back to the loop; when the answer comes, the loop switches into the
greenlet again and the script goes on where it stopped. Nothing blocks the loop, and the
script reads top to bottom. Routes run outside such a greenlet (reply, failure and
branch routes, which the transaction layer calls and needs an answer from at once) run
a database job inline instead. :func:`wait_async` does the same for a coroutine (network
I/O with its own asyncio client, off the database worker).

:data:`state` holds the context of the route running now: the KSR functions read it, so
their signatures stay Kamailio's (no ``msg`` argument to pass around).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from greenlet import greenlet

from kamtool.proxy.dbworker import log_db_error
from kamtool.sip.errors import ParseError

# route kinds (Kamailio's route types the tm/tmx functions look at)
REQUEST, REPLY, ONREPLY, FAILURE, BRANCH = "request", "reply", "onreply", "failure", "branch"
DLG_VARS = "\0dlg_var"  # the AVP slot of $dlg_var(...) and KSR.dialog.var_* values
NULL_TEXT = "<null>"  # what Kamailio's getw functions and xlog show for no value


def e_and_w(get: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Kamailio's ``gete``/``getw`` twins of a getter: ``""`` / ``"<null>"`` where it
    gives None (``pv.gete``, ``hdr.getw_idx``, ``htable.sht_getw`` ...)."""

    def gete(*args: Any) -> Any:
        value = get(*args)
        return "" if value is None else value

    def getw(*args: Any) -> Any:
        value = get(*args)
        return NULL_TEXT if value is None else value

    return gete, getw


class MsgContext:
    """What a route sees of one SIP message (Kamailio's ``sip_msg_t`` plus the route's
    state): the message, where it came from, flags, ``$du``, the targets ``lookup()`` or
    ``ds_select_dst()`` found, the transaction once there is one, and the tm routes armed.

    A plain class whose defaults are class attributes: a context is made for every message
    and most of these are never set, so only what is set costs anything."""

    kind: str = REQUEST
    flags: int = 0  # setflag(): bits 1 << n, given to the transaction (acc flags)
    bflags: int = 0  # setbflag(): branch flags (saved with a contact: cflags)
    dst_uri: str | None = None  # $du
    targets: list[Any] | None = None  # q-groups of Targets from lookup()/ds_select_dst()
    stx: Any = None  # the server transaction (t_newtran, t_relay)
    replied: bool = False  # a final reply was sent by the route
    drop: bool = False  # set_drop()/drop(): do not send
    record_route: bool = False  # record_route() asked for; added by t_relay
    rr_params: str = ""  # add_rr_param()
    uac_edits: dict[str, str] | None = None  # uac_replace_*/restore: header -> leaving value
    uac_replies: list[str] | None = None  # ... whose received value the replies get back
    loose: Any = None  # loose_route()'s result (did, target, second) for t_relay
    dialog: bool = False  # dlg_manage(): track the INVITE as a dialog
    dlg_lifetime: int | None = None  # dlg_set_timeout() before the dialog exists
    profiles_: list[Any] | None = None  # set_dlg_profile() (see profiles)
    on_branch: str | None = None  # t_on_branch()
    on_reply: str | None = None  # t_on_reply()
    on_failure: str | None = None  # t_on_failure()
    fr_timer: float | None = None  # t_set_fr()
    fr_inv_timer: float | None = None
    branch_idx: int = 0  # $T_branch_idx
    reply: Any = None  # failure/onreply routes: the reply the route is about
    reply_code: int = 0  # $T_reply_code (408 for a timeout without reply)
    reply_lumps: list[tuple[str, str]] | None = None  # append_to_reply() headers
    route_params: dict[str, Any] | None = None  # of our Route (loose_route)
    new_targets: list[Any] | None = None  # t_relay() in a failure route
    nated: bool = False  # nat_uac_test() was true (fix_nated_register applies)
    fix_register: bool = False  # fix_nated_register() asked for
    auth_user: str | None = None  # the user auth_check() accepted
    ds: list[Any] | None = None  # dispatcher destinations not tried yet (ds_next_dst)
    ds_current: Any = None  # the destination in use (ds_mark_dst)
    vars_: dict[str, Any] | None = None  # $var(...) (see vars)
    avps_: dict[str, Any] | None = None  # $avp(...) and module state (see avps)
    pkey: Any = None  # this request's key while t_precheck_trans marks it
    early_trying: bool = False  # an INVITE that waits for the database gets 100 first
    trying_sent: bool = False  # ... once: its first wait sent it
    cancelled: bool = False  # a CANCEL came while the route waited for the database
    forwarded: bool = False  # relayed (statefully or not)
    failed_branch: Any = None  # the branch a failure route runs for
    flow_failed: bool = False  # lookup()/loose_route() found only closed flows (RFC 5626)
    rr_token: str = ""  # the flow token our Record-Route carries (RFC 5626 5.3)
    ouri: str | None = None  # $ou: the R-URI before the route rewrote it
    _match: Any = None
    _matched: bool = False

    def __init__(self, engine: Any, parts: Any, msg: Any, endpoint: Any,
                 addr: tuple[str, int], **fields: Any) -> None:  # fmt: skip
        self.engine = engine  # kamtool.proxy.ksr.engine.ScriptEngine
        self.parts = parts  # kamtool.proxy.parts.Parts: the step modules KSR functions call
        self.msg = msg  # Request or Response
        self.endpoint = endpoint
        self.addr = addr
        if msg.is_request:
            self.ouri = msg.uri_text
        if fields:
            if not fields.keys() <= _FIELDS:
                raise TypeError(f"MsgContext has no field {sorted(fields.keys() - _FIELDS)}")
            self.__dict__.update(fields)

    # made on first use: most messages never need them
    @property
    def vars(self) -> dict[str, Any]:
        if self.vars_ is None:
            self.vars_ = {}
        return self.vars_

    @property
    def avps(self) -> dict[str, Any]:
        if self.avps_ is None:
            self.avps_ = {}
        return self.avps_

    @property
    def profiles(self) -> list[Any]:
        if self.profiles_ is None:
            self.profiles_ = []
        return self.profiles_

    @property
    def is_request(self) -> bool:
        return self.msg.is_request

    def match(self) -> Any:
        """tm's look-up of this request, once (a retransmission is answered here): the
        ``RequestReceived`` of a new request, or None when tm absorbed it."""
        if not self._matched:
            self._matched = True
            self._match = self.parts.tm.match_request(self.msg, self.endpoint, self.addr)
        return self._match


# what MsgContext(..., **fields) may set: the class attributes with a default
_FIELDS = frozenset(MsgContext.__annotations__)


class RouteExit(SystemExit):
    """``KSR.x.exit()`` (and ``sys.exit()`` in a route): the route stops here. A
    SystemExit, as app_python3 raises it, so a script's ``except Exception`` does not
    swallow it; the engine catches it."""


class _State:
    """The context of the route running now (None between routes)."""

    __slots__ = ("ctx",)

    def __init__(self) -> None:
        self.ctx: Any = NO_ROUTE


class _NoRoute:
    """``state.ctx`` between routes: any use says what went wrong. (The KSR functions
    read ``state.ctx`` directly: they run for every message, a check each would cost.)"""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("KSR functions can only be used while a route runs")

    def __bool__(self) -> bool:
        return False


NO_ROUTE = _NoRoute()
state = _State()


DONE = object()  # what a route greenlet switches back with when its route has ended


class RouteGreenlet(greenlet):
    """A greenlet that runs request routes, one after the other (:func:`wait_db` switches
    out of these only). Reused: making a greenlet costs about ten times a switch."""

    def __init__(self) -> None:
        super().__init__(self._serve)

    @staticmethod
    def _serve(job: tuple[Any, MsgContext]) -> None:
        while True:
            fn, ctx = job
            fn(ctx)
            job = greenlet.getcurrent().parent.switch(DONE)


def current() -> MsgContext:
    """The context of the running route; a KSR call outside a route is an error."""
    ctx = state.ctx
    if ctx is NO_ROUTE:
        raise RuntimeError("KSR functions can only be used while a route runs")
    return ctx


def enter(g: greenlet, ctx: MsgContext, value: Any = None) -> Any:
    """Switch into ``g`` with ``ctx`` as the current context; back here when it ends or
    waits."""
    prev = state.ctx
    state.ctx = ctx
    try:
        return g.switch(value)
    finally:
        state.ctx = prev


def wait_db(job: Any, worker: Any = None) -> Any:
    """Run ``job()`` on the database worker (or another ``worker`` with its ``submit``,
    such as the shared state's Redis link) and return its result (raise its error),
    without blocking the event loop when called from a request route's greenlet."""
    g = greenlet.getcurrent()
    ctx = state.ctx
    if worker is None:
        worker = ctx.parts.db if ctx is not NO_ROUTE else None
    if not isinstance(g, RouteGreenlet) or worker is None:
        return job()  # outside a request route (or no worker): inline
    return _suspend(g, ctx, lambda done: worker.submit(job, done))


def wait_async(start: Callable[[], Awaitable[Any]], inline: Callable[[], Any]) -> Any:
    """Await ``start()`` on the event loop and return its result (raise its error),
    without blocking the loop when called from a request route's greenlet; elsewhere
    (reply, failure and branch routes, which must answer at once) run ``inline()``.

    For network I/O that has its own asyncio client (RTPEngine's ng protocol): it then
    waits neither for the database worker nor holds it up (:func:`wait_db` shares one
    thread among all database jobs)."""
    g = greenlet.getcurrent()
    ctx = state.ctx
    if not isinstance(g, RouteGreenlet) or ctx is NO_ROUTE:
        return inline()

    def begin(done: Callable[[Any, BaseException | None], None]) -> None:
        def finished(task: asyncio.Task[Any]) -> None:
            if task.cancelled():
                done(None, asyncio.CancelledError())
            elif (error := task.exception()) is not None:
                done(None, error)
            else:
                done(task.result(), None)

        asyncio.ensure_future(start()).add_done_callback(finished)

    return _suspend(g, ctx, begin)


def _suspend(g: RouteGreenlet, ctx: MsgContext, begin: Callable[[Any], None]) -> Any:
    """Switch out of the route's greenlet until what ``begin(done)`` started calls
    ``done(result, error)`` on the loop; then go on with that result."""
    engine = ctx.engine
    engine.suspended(ctx, True)
    if ctx.early_trying and not ctx.trying_sent and not ctx.replied and ctx.msg.method == "INVITE":
        # RFC 3261 16.2 / 17.2.1: a stateful proxy answers an INVITE with 100 within
        # 200 ms, so the caller stops retransmitting; the database may take longer
        # (Kamailio blocks its worker instead and sends the 100 only in t_relay). One 100
        # per INVITE: auth_check, then lookup, each wait for the database.
        ctx.trying_sent = True
        ctx.parts.sl.trying(ctx.msg, ctx.endpoint, ctx.addr)

    def done(result: Any, error: BaseException | None) -> None:
        engine.resume(g, ctx, (result, error))

    begin(done)
    assert g.parent is not None
    result, error = g.parent.switch()
    engine.suspended(ctx, False)
    if ctx.cancelled:  # CANCELled while it waited: 487, and the route ends here
        parts, msg, endpoint, addr = ctx.parts, ctx.msg, ctx.endpoint, ctx.addr
        reply_addr = parts.codec.reply_address(msg, endpoint, addr)
        stx = parts.tm.new_server(msg, endpoint, addr, reply_addr)
        parts.tm.local_reply(stx, 487, "Request Terminated")
        ctx.replied = True
        raise RouteExit()
    if error is not None:
        raise error
    return result


def in_route() -> bool:
    """True in a request route's greenlet, where :func:`wait_db` can wait."""
    return isinstance(greenlet.getcurrent(), RouteGreenlet) and state.ctx is not NO_ROUTE


def field(msg: Any, name: str) -> Any:
    """``msg.<name>`` (a header parsed on first use), None when it does not parse. The KSR
    functions read headers this way: a broken header is the route's business, not an error."""
    try:
        return getattr(msg, name)
    except (ParseError, AttributeError):
        return None


def db_error(ctx: MsgContext, what: str, error: BaseException) -> int:
    """A database failure inside a KSR call: logged (an outage once, by the worker);
    the function fails with -1 and the route decides what to answer."""
    log_db_error(what, error)
    return -1


def request_key(
    codec: Any, req: Any, addr: tuple[str, int], method: str | None = None
) -> tuple[Any, ...]:
    """What makes a retransmission the same request: source, Call-ID, CSeq, branch
    (``method``: the INVITE a CANCEL is for)."""
    via = codec.top_via(req)
    branch = getattr(via, "branch", None) if via is not None else None
    return (addr, codec.call_id(req), codec.cseq_num(req), method or req.method, branch)
