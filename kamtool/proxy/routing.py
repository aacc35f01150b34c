"""The default route: what ``kamailio-interop.cfg``'s request_route does, as code.

Order for every request (issue #5, item 2):

0. REQINIT flood protection: a source in the ``ipban`` htable is dropped silently; a
   source pike finds over the limit is logged once, banned and dropped (:meth:`Router.banned`);
1. Max-Forwards: 0 → ``483 Too Many Hops``; absent → set to ``max_forwards`` (10);
2. sanity: a request the parser refuses gets the parser's status (400 with a reason ...);
3. ``OPTIONS`` to the proxy itself (no user part) → ``200 Keepalive``;
4. ``CANCEL`` matched to its INVITE transaction → 200, CANCEL on the branches; no match → 481;
5. retransmissions absorbed (the last response is sent again); ACK of a non-2xx absorbed;
6. in-dialog requests (To tag): loose routing on our Record-Route; no Route of ours →
   ``404 Not here``; an ACK that matches nothing is dropped;
7. Record-Route on INVITE and SUBSCRIBE: ``<sip:IP:port;lr;ftag=<from-tag>;did=<dialog>>``;
8. authentication (REGISTER 401, others 407; trusted source addresses skip it for
   non-REGISTER; 403 when the authenticated user is not the From user; credentials removed
   before forwarding); requests neither from nor to a local domain → ``403 Not relaying``;
9. REGISTER → registrar; no user in the R-URI → ``484``; an INVITE whose R-URI user
   matches ``dispatch_pattern`` (``^9[0-9]+$``) → the dispatcher (route[DISPATCH], with
   failover on 500 or a silent destination);
10. alias_db_lookup (an R-URI user that is an alias becomes its user), location lookup
    (by user, whatever the R-URI domain, as use_domain 0; tel: numbers too) →
    relay to every binding (q-groups in series, equal q in parallel),
    ``404 Not Found`` without bindings, ``405`` when the bindings do not accept the
    method; INVITEs are tracked as dialogs.

Accounting flags (:mod:`kamtool.proxy.acc`) go on the transaction as the cfg sets them:
FLT_ACC on INVITEs, plus FLT_ACCMISSED once the callee was found in the location table;
FLT_ACC and FLT_ACCFAILED on in-dialog BYEs.

Responses are matched to their branch by the top Via branch (ours); the rest are
forwarded statelessly by the next Via.

Database reads and writes never run here when the router has a database worker
(``db``, :mod:`kamtool.proxy.dbworker`): a request that needs an answer (the subscriber
row of an uncached user, an alias, a db_mode 3 location, a write-through REGISTER) is
suspended while the worker asks, and its routing goes on when the answer comes back
(:meth:`Router._await_db`); retransmissions meanwhile are absorbed. While the database
is away such a request gets 500 "Server Internal Error"; everything else flows on.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any
from urllib.parse import quote

from kamtool.proxy.acc import ACC, ACC_FAILED, ACC_MISSED
from kamtool.proxy.auth import Authenticator
from kamtool.proxy.codec import Codec, ParseFailure, socket_of_uri
from kamtool.proxy.config import ProxyConfig
from kamtool.proxy.dbworker import DatabaseDown, connection_errors, describe
from kamtool.proxy.dialogs import DLG_STATE_DELETED, DialogTracker, Leg
from kamtool.proxy.dispatcher import user_pattern
from kamtool.proxy.htable import HtableStore, default_store
from kamtool.proxy.nat import NatHelper
from kamtool.proxy.outbound import FLOW_FAILED, choose_flows
from kamtool.proxy.pike import Pike, Verdict
from kamtool.proxy.registrar import Registrar
from kamtool.proxy.stats import ReceivedReplies
from kamtool.proxy.tm import TRYING, ServerTx, Target, TransactionLayer
from kamtool.proxy.usrloc import METHOD_BITS, UNSTORED_RETRY_AFTER, LocationStore
from kamtool.sip.errors import ParseError
from kamtool.sip.uri import TelURI

log = logging.getLogger(__name__)

# db_mode 1, the database away: the answer instead of a 200 for an unstored contact
_UNSTORED = (503, "Service Unavailable", [("Retry-After", str(UNSTORED_RETRY_AFTER))])

RECORD_ROUTED = frozenset({"INVITE", "SUBSCRIBE"})
AUTH_407 = frozenset({"INVITE", "MESSAGE", "SUBSCRIBE", "NOTIFY", "REFER"})


class Router:
    """Receives every datagram/stream message of the proxy and routes it.

    ``receive(data, endpoint, addr)`` is the transport sink. Modules:
    ``usrloc``, ``registrar``, ``auth``, ``tm``, ``dialogs``, ``stats``, ``htables``
    (``ipban``), ``pike`` (None when disabled).
    """

    def __init__(
        self,
        config: ProxyConfig,
        *,
        timers: Any,
        usrloc: LocationStore,
        auth: Authenticator,
        stats: Any,
        database: Any = None,
        permissions: Any = None,
        domains: Any = None,
        htables: HtableStore | None = None,
        dispatcher: Any = None,
        accounting: Any = None,
        aliases: Any = None,
        script: Any = None,
        db: Any = None,
        overload: Any = None,
        rules: Any = None,
    ) -> None:
        self.config = config
        self.timers = timers
        self.usrloc = usrloc
        self.auth = auth
        self.stats = stats
        self.database = database
        self.permissions = permissions  # address table (allow_source_address), or None
        self.domains = domains  # domain table (is_from_local / is_uri_host_local), or None
        self.dispatcher = dispatcher  # kamtool.proxy.dispatcher.Dispatcher, or None
        self.rules = rules  # dialplan and mtrees (kamtool.proxy.rule_tables), or None
        self.dispatch_users = user_pattern(config.dispatch_pattern) if dispatcher else None
        self.aliases = aliases  # dbaliases (alias_db_lookup), or None
        # a KEMI route script replaces route_request: ``script(router)`` makes its engine
        # (kamtool.proxy.ksr.engine.ScriptEngine), which routes with this router's parts
        self.script: Any = script(self) if script is not None else None
        self.db = db  # the DbWorker (see module docstring), or None: DB on the loop
        self.overload = overload  # kamtool.proxy.overload.OverloadGuard, or None (off)
        # requests suspended for the database -> cancelled (by a CANCEL) meanwhile
        self._waiting: dict[tuple[Any, ...], bool] = {}
        self.accepting = True
        self.transports: Any = None
        self.local_names = config.local_names
        self.local_ports = {lst.port for lst in config.listen}
        self.codec = Codec(config)
        self.tm = TransactionLayer(
            timers,
            send=self.send_to,
            codec=self.codec,
            stats=stats,
            fr_timer=config.fr_timer,
            fr_inv_timer=config.fr_inv_timer,
            t1=config.t1,
            t2=config.t2,
            t4=config.t4,
        )
        if accounting is not None:  # acc: CDRs of flagged transactions
            self.tm.on_final_out = accounting.on_reply
        self.dialogs = DialogTracker(
            timers, lifetime=config.dialog_lifetime, stats=stats, send_bye=self._send_bye
        )
        self.c_limit = {  # INVITEs refused by the call limits (_over_call_limit)
            k: stats.counter("dlglimit", f"{k}_refused") for k in ("global", "caller", "callee")
        }
        self.registrar = Registrar(config, usrloc, stats)
        self.nat = NatHelper(config, self.codec, stats)
        self.htables = htables if htables is not None else default_store()
        self.pike: Pike | None = None
        if config.pike:
            self.pike = Pike(
                timers,
                reqs_density_per_unit=config.pike_reqs_density_per_unit,
                sampling_time_unit=config.pike_sampling_time_unit,
                remove_latency=config.pike_remove_latency,
                blocked_ips=stats.counter("pike", "blocked_ips"),
            )
        c = stats.counter
        self.c_rcv_req = c("core", "rcv_requests")
        self.rcv_replies = ReceivedReplies(stats)
        self.c_fwd_req = c("core", "fwd_requests")
        self.c_fwd_rpl = c("core", "fwd_replies")
        self.c_drop_req = c("core", "drop_requests")
        self.c_drop_rpl = c("core", "drop_replies")
        self.c_err_req = c("core", "err_requests")
        self.c_err_rpl = c("core", "err_replies")
        self.c_bad_msg = c("core", "bad_msg_hdr")
        self.c_by_method = {
            m: c("core", f"rcv_requests_{m.lower()}")
            for m in (
                "ACK BYE CANCEL INFO INVITE MESSAGE NOTIFY OPTIONS PRACK PUBLISH REFER "
                "REGISTER SUBSCRIBE UPDATE"
            ).split()
        }
        self.c_unsupported = c("core", "unsupported_methods")
        self.sl = {
            k: c("sl", f"{k}_replies")
            for k in ("200", "202", "300", "301", "302", "400", "401", "403", "404", "407")
            + ("408", "483", "500")
        }
        self.sl_class = {k: c("sl", f"{k}xx_replies") for k in range(1, 7)}
        self.sl_other = c("sl", "xxx_replies")  # codes outside 100-699
        self.sl_sent = c("sl", "sent_replies")
        self.sl_err = c("sl", "sent_err_replies")
        self.sl_acks = c("sl", "received_ACKs")
        usrloc_stats = stats.gauge
        usrloc_stats("usrloc", "registered_users", lambda: self.usrloc.stats()[0])
        usrloc_stats("usrloc", "location_users", lambda: self.usrloc.stats()[0])
        usrloc_stats("usrloc", "location_contacts", lambda: self.usrloc.stats()[1])
        usrloc_stats("usrloc", "location_expires", lambda: self.usrloc.expired_total)
        stats.set_value("registrar", "max_expires", config.max_expires)
        stats.set_value("registrar", "default_expire", config.default_expires)

    def attach(self, transports: Any) -> None:
        """Give the router its sockets (after the server bound them)."""
        self.transports = transports
        self.nat.start_pinging(self.timers, self.usrloc, self.send_to, self.local_socket)

    # ================================================================== wire

    def local_socket(self, dest: tuple[str, str, int], socket: str | None = None) -> Any:
        """The listener a message to ``dest`` leaves from (its Via and Record-Route name
        it): ``socket`` (a contact's registered socket, force_send_socket) when it is one
        of ours of the destination's protocol and family, remembered for the destination
        so retransmissions follow; else the transports' choice (family, mhomed)."""
        t = self.transports
        if t is None:
            return None
        forced = t.listen_named(socket)
        if (
            forced is not None
            and forced.proto == dest[0]
            and (":" in forced.host) == (":" in dest[1])
        ):
            t.force(dest, forced)
            return forced
        return t.socket_for(*dest)

    def send_to(self, dest: tuple[str, str, int], data: bytes) -> None:
        """Send bytes to ``(proto, host, port)``."""
        if self.transports is None or not self.transports.send(dest[0], (dest[1], dest[2]), data):
            log.info("no %s transport to reach %s:%s", *dest)

    def _sl_reply(
        self,
        request: Any,
        endpoint: Any,
        addr: tuple[str, int],
        status: int,
        reason: str,
        headers: list[tuple[str, str]] | None = None,
        *,
        error: bool = False,
    ) -> None:
        """Stateless reply (sl_send_reply), To-tag like Kamailio's ``<32hex>.<8hex>``;
        ``error``: the answer to a failure of our own (sl_reply_error, sl:sent_err_replies)."""
        data = self.codec.local_reply(request, status, reason, headers or [], stateless=True)
        endpoint.send(data, self.codec.reply_address(request, endpoint, addr))
        self.sl_sent.value += 1
        # as Kamailio's sl: a code with its own counter is not counted in its class
        # (sl:4xx_replies are the 4xx other than 400, 401, 403 ...), so the two add up
        counter = self.sl.get(str(status)) or self.sl_class.get(status // 100, self.sl_other)
        counter.value += 1
        if error:
            self.sl_err.value += 1

    # ================================================================== entry

    def receive(self, data: bytes, endpoint: Any, addr: tuple[str, int]) -> None:
        """Transport sink: one SIP message from ``addr`` on ``endpoint``."""
        try:
            if isinstance(data, ParseError):
                # one bad message the stream framer cut out whole: answered as the same
                # datagram would be (its partial request), not dropped in silence
                raise ParseFailure(data, data.request if data.respond else None)
            msg = self.codec.parse(data)
        except ParseFailure as exc:
            self.c_bad_msg.value += 1
            if exc.request is not None and exc.respond and self.banned(None, addr):
                return  # no 400s for a flood of garbage either
            if exc.request is not None and exc.respond:
                self.c_rcv_req.value += 1
                self.c_err_req.value += 1
                try:
                    self._sl_reply(exc.request, endpoint, addr, exc.status, exc.reason, exc.headers)
                except Exception:
                    log.debug("cannot answer a malformed request from %s:%s", *addr)
            else:
                log.debug("dropping malformed message from %s:%s: %s", addr[0], addr[1], exc)
            return
        if msg.is_request:
            self.c_rcv_req.value += 1
            counter = self.c_by_method.get(msg.method)
            if counter is not None:
                counter.value += 1
            try:
                if self.script is not None:
                    self._script_request(msg, endpoint, addr)
                else:
                    self.route_request(msg, endpoint, addr)
            except Exception as exc:
                self._route_failed(msg, endpoint, addr, exc)
        else:
            try:
                cseq = msg.cseq
            except ParseError:
                cseq = None  # still a received reply; dropped below
            self.rcv_replies.count(msg.status, cseq.method if cseq else None)
            try:
                if self.script is not None:
                    self.script.response(msg, endpoint, addr)
                else:
                    self.route_response(msg, endpoint, addr)
            except ParseError as exc:
                self.c_drop_rpl.value += 1
                log.debug("dropping a malformed reply from %s:%s: %s", addr[0], addr[1], exc)

    def _script_request(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        """A request for the route script: a new one is refused while shutting down,
        else the script's request route (which sheds load with KSR.kamtool.refuse_new)."""
        if not self.accepting and req.method != "ACK" and not self.codec.to_tag(req):
            self._sl_reply(req, endpoint, addr, 503, "Shutting Down")
            return
        self.script.request(req, endpoint, addr)

    def _route_failed(self, msg: Any, endpoint: Any, addr: tuple[str, int], exc: Exception) -> None:
        """Routing ``msg`` raised: a header parsed lazily was bad (its 400), or a bug
        (500, logged with the traceback); the proxy keeps serving either way."""
        if isinstance(exc, ParseFailure | ParseError):
            self.c_err_req.value += 1
            failure = exc if isinstance(exc, ParseFailure) else ParseFailure(exc)
            try:
                self._sl_reply(msg, endpoint, addr, failure.status, failure.reason, failure.headers)
            except ParseError:
                log.debug("cannot answer a malformed request from %s:%s", *addr)
            return
        log.error("error routing %s from %s:%s", msg.method, addr[0], addr[1], exc_info=exc)
        if msg.method != "ACK":
            try:
                self._sl_reply(msg, endpoint, addr, 500, "Server Internal Error", error=True)
            except Exception:
                pass

    # ================================================================== database

    def _wait_key(
        self, req: Any, addr: tuple[str, int], method: str | None = None
    ) -> tuple[Any, ...]:
        """What makes a retransmission the same request: source, Call-ID, CSeq, branch
        (``method``: the INVITE a CANCEL is for)."""
        via = self.codec.top_via(req)
        branch = getattr(via, "branch", None) if via is not None else None
        call_id, cseq = self.codec.call_id(req), self.codec.cseq_num(req)
        return (addr, call_id, cseq, method or req.method, branch)

    def _await_db(
        self,
        req: Any,
        endpoint: Any,
        addr: tuple[str, int],
        job: Any,
        resume: Any,
    ) -> None:
        """Suspend ``req`` while ``job`` runs on the database worker, then
        ``resume(result, error)`` on the loop goes on routing it. Until then a
        retransmission of ``req`` is absorbed (see :meth:`route_request`)."""
        key = self._wait_key(req, addr)
        self._waiting[key] = False
        if req.method == "INVITE":
            # RFC 3261 16.2 / 17.2.1: a stateful proxy answers an INVITE with 100 within
            # 200 ms, so the caller stops retransmitting; the database may take longer.
            # (Kamailio's auth_db and alias_db block the worker instead, and its tm sends
            # the 100 only in t_relay.) The transaction that follows sends its own 100 too.
            self._trying(req, endpoint, addr)

        def done(result: Any, error: BaseException | None) -> None:
            if self._waiting.pop(key, False):  # cancelled while it waited
                self._stateful_reply(req, endpoint, addr, 487, "Request Terminated")
                return
            try:
                resume(result, error)
            except Exception as exc:
                self._route_failed(req, endpoint, addr, exc)

        self.db.submit(job, done)

    def _trying(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        """100 Trying (tm's text) to an INVITE that waits for the database: stateless,
        no To tag (RFC 3261 8.2.6.2), counted in sl:1xx_replies."""
        self._sl_reply(req, endpoint, addr, 100, TRYING)

    @staticmethod
    def log_db_error(what: str, error: BaseException) -> None:
        """A failed database job: an outage is logged once, by the worker (debug here);
        anything else is worth a line of its own."""
        if isinstance(error, (DatabaseDown, *connection_errors())):
            log.debug("%s: database unavailable (%s)", what, describe(error))
        else:
            log.error("%s: database error: %s", what, describe(error))

    def _db_failed(
        self, req: Any, endpoint: Any, addr: tuple[str, int], what: str, error: BaseException
    ) -> None:
        """A request whose routing needs the database that failed: 500 (auth_db's own
        answer; Kamailio's reference cfg re-challenges instead, see kamtool.proxy.auth),
        counted as sl_reply_error."""
        self.log_db_error(what, error)
        if req.method != "ACK":
            self._sl_reply(req, endpoint, addr, 500, "Server Internal Error", error=True)

    # ================================================================== requests

    def banned(self, req: Any, addr: tuple[str, int]) -> bool:
        """route[REQINIT]'s flood check: True when the request must be dropped unanswered.

        A source in ``ipban`` is dropped (quietly: one line per block, not per packet); a
        source that pike finds over the limit is logged, put in ``ipban`` and dropped.
        """
        ipban = self.htables.get("ipban")
        if ipban is not None and ipban.get(addr[0]) is not None:
            log.debug("request from banned ip %s dropped", addr[0])
            return True
        if self.pike is None or self.pike.check(addr[0]) is Verdict.OK:
            return False
        what = "a request"
        if req is not None:
            try:
                what = f"{req.method} from {self.codec.from_uri(req)}"
            except (ParseError, ParseFailure):
                what = req.method
        log.warning("pike blocking %s (IP:%s:%s)", what, addr[0], addr[1])
        if ipban is not None:
            ipban.set(addr[0], 1)
        return True

    def route_request(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        codec = self.codec
        method = req.method
        # -- REQINIT: ipban and pike ----------------------------------------------------
        if self.banned(req, addr):
            return
        # -- NATDETECT: rport for a NATed sender, alias on its Contact -----------------------
        nated = self.nat.detect(req, endpoint, addr)
        if nated:
            self.nat.alias_request(req, endpoint, addr)
        # received=/rport= on the sender's Via (RFC 3261 18.2.1, RFC 3581) before anything
        # answers or forwards the request: our own replies carry them too, as Kamailio's do.
        # The transaction key (branch, sent-by, method) does not include them.
        codec.mark_received(req, addr)
        # -- REQINIT: Max-Forwards and OPTIONS keepalive ------------------------------
        mf = codec.max_forwards(req)
        if mf is not None and mf <= 0:
            if method != "ACK":
                self._sl_reply(req, endpoint, addr, 483, "Too Many Hops")
            return
        ruri = codec.ruri(req)
        if method == "OPTIONS" and getattr(ruri, "user", 1) is None and self.is_myself(ruri):
            self._sl_reply(req, endpoint, addr, 200, "Keepalive")
            return
        codec.sanity(req)  # raises ParseFailure -> 400 with the reason
        # -- transactions: retransmissions, ACK of a non-2xx, CANCEL ----------------------
        new = self.tm.match_request(req, endpoint, addr)
        if new is None:  # the transaction layer answered (or absorbed) it
            if method == "ACK":
                self.sl_acks.value += 1
            return
        if self._waiting and self._wait_key(req, addr) in self._waiting:
            # a retransmission of a request waiting for the database: an INVITE gets its
            # 100 again (as a server transaction in Proceeding would, RFC 3261 17.2.1)
            if method == "INVITE":
                self._trying(req, endpoint, addr)
            return
        if method == "CANCEL":
            stx = self.tm.lookup(new.cancels) if new.cancels is not None else None
            if stx is None and self._waiting:  # an INVITE still waiting for the database
                invite = self._wait_key(req, addr, "INVITE")
                if invite in self._waiting:
                    self._waiting[invite] = True  # answered 487 when the answer comes
                    self._sl_reply(req, endpoint, addr, 200, "canceling")
                    return
            if stx is None:
                self._sl_reply(req, endpoint, addr, 481, "Call/Transaction Does Not Exist")
                return
            self._sl_reply(req, endpoint, addr, 200, "canceling")
            self.tm.cancel(stx)
            return
        if not self.accepting:
            if method != "ACK":
                self._sl_reply(req, endpoint, addr, 503, "Shutting Down")
            return
        # -- overload: a new initial request gets a cheap 503 (kamtool.proxy.overload) ----
        shed = self.overload
        if shed is not None and shed.overloaded and method != "ACK" and not codec.to_tag(req):
            headers = shed.reject_headers()
            self._sl_reply(req, endpoint, addr, 503, "Service Unavailable", headers)
            return
        # -- in-dialog -----------------------------------------------------------------------
        if codec.to_tag(req):
            self.within_dialog(req, endpoint, addr)
            return
        if method == "ACK":
            self.c_drop_req.value += 1
            return
        codec.remove_routes(req)
        # -- authentication ----------------------------------------------------------------
        if not self.authorize(req, endpoint, addr, nated=nated):
            return  # answered, or suspended until the subscriber row is read
        self._route_authorized(req, endpoint, addr, nated)

    def _route_authorized(
        self, req: Any, endpoint: Any, addr: tuple[str, int], nated: bool = False
    ) -> None:
        """The default route after route[AUTH] (``nated``: NATDETECT's verdict):
        registrar, dispatcher or location."""
        method = req.method
        ruri = self.codec.ruri(req)
        # -- registrar ---------------------------------------------------------------------
        if method == "REGISTER":
            self.register(req, endpoint, addr, nated)
            return
        user = request_user(ruri)
        if user is None:  # $rU == $null
            self._sl_reply(req, endpoint, addr, 484, "Address Incomplete")
            return
        if method == "INVITE" and self.dispatch_users and self.dispatch_users.match(user):
            self.dispatch(req, endpoint, addr)
            return
        self.relay_initial(req, endpoint, addr)

    def is_myself(self, uri: Any) -> bool:
        """``uri == myself``: the host is one of ours and the port (if any) one of ours."""
        host = getattr(uri, "host", None)
        if not host or host.lower() not in self.local_names:
            return False
        port = getattr(uri, "port", None)
        return port is None or port in self.local_ports

    # ------------------------------------------------------------------ auth

    def authorize(
        self,
        req: Any,
        endpoint: Any,
        addr: tuple[str, int],
        *,
        stale_ok: bool = False,
        nated: bool = False,
    ) -> bool | None:
        """route[AUTH]; True when the request may go on, None when it waits for its
        subscriber row (the routing goes on in :meth:`_auth_fetched`)."""
        codec = self.codec
        method = req.method
        from_uri = codec.from_uri(req)
        from_local = from_uri is not None and self.is_local_domain(from_uri)
        if not self.config.auth:
            return True
        perms = self.permissions
        if (
            method != "REGISTER"
            and perms is not None
            and perms.allows(self.config.trusted_group, addr[0], addr[1])
        ):
            return True
        if method == "REGISTER" or from_local:
            realm = from_uri.host if from_uri is not None else self.config.domain or addr[0]
            is_reg = method == "REGISTER"
            outcome = self.auth.check(
                method,
                codec.credentials(req, proxy=not is_reg),
                realm=realm,
                from_user=(from_uri.user or "") if from_uri is not None else "",
                challenge_status=401 if is_reg else 407,
                stale_ok=stale_ok,
            )
            if outcome.status == 0 and outcome.lookup is not None:
                key = outcome.lookup
                job = partial(self.auth.fetch, *key)
                resume = partial(self._auth_fetched, req, endpoint, addr, key, nated)
                self._await_db(req, endpoint, addr, job, resume)
                return None
            if outcome.reason not in ("", "stale_nonce") and outcome.status in (401, 403, 407):
                # credentials given and refused: the default route's fail2ban line
                # (README "Failed authentication"), the user URL-escaped as there
                user = quote((from_uri.user if from_uri else "") or "-", safe="@.-_+~!*()'")
                log.warning("AUTH_FAILED: method=%s user=%s from=%s", method, user, addr[0])
            # registrar:rejected_regs counts failed saves only, as in Kamailio: challenges
            # and auth failures show up in sl:401_replies / sl:403_replies instead.
            if outcome.status == 403:
                self._sl_reply(req, endpoint, addr, 403, "Forbidden")
                return False
            if outcome.status != 200:
                name = "WWW-Authenticate" if is_reg else "Proxy-Authenticate"
                reason = "Unauthorized" if is_reg else "Proxy Authentication Required"
                self._sl_reply(
                    req, endpoint, addr, outcome.status, reason, [(name, outcome.challenge or "")]
                )
                return False
            if not is_reg:
                codec.remove_credentials(req)
        if not from_local and not self.is_local_domain(codec.ruri(req)):
            self._sl_reply(req, endpoint, addr, 403, "Not relaying")
            return False
        return True

    def _auth_fetched(
        self,
        req: Any,
        endpoint: Any,
        addr: tuple[str, int],
        key: tuple[str, str],
        nated: bool,
        row: Any,
        error: BaseException | None,
    ) -> None:
        """The subscriber row arrived (or the database failed): check again and go on.
        A failed read still lets a row cached before the outage serve (stale_ok)."""
        if error is None:
            self.auth.remember(*key, row)
        elif not self.auth.cached(*key, stale_ok=True)[0]:
            self._db_failed(req, endpoint, addr, "auth_check", error)
            return
        if self.authorize(req, endpoint, addr, stale_ok=error is not None, nated=nated):
            self._route_authorized(req, endpoint, addr, nated)

    def is_local_domain(self, uri: Any) -> bool:
        """``uri == myself || is_uri_host_local()``: listen IPs, domain, aliases, domain table."""
        host = getattr(uri, "host", None)
        if not host:
            return False
        host = host.lower()
        if host in self.local_names:
            return True
        return self.domains is not None and self.domains.is_local(host)

    # ------------------------------------------------------------------ registrar

    def register(self, req: Any, endpoint: Any, addr: tuple[str, int], nated: bool = False) -> None:
        """save("location") (fix_nated_register first when ``nated``) and its reply.
        Deferred usrloc: db_mode 3 reads the AoR on the worker first; write-through
        (db_mode 1) and db_mode 3 answer once the write is in the database."""
        ul = self.usrloc
        to_uri = self.codec.to_uri(req)
        user = getattr(to_uri, "user", None)
        aor = ul.aor_key(user, getattr(to_uri, "host", None)) if user else None
        if aor is not None and ul.needs_fetch(aor):
            job = partial(ul.fetch, aor)
            resume = partial(self._register_fetched, req, endpoint, addr, aor, nated)
            self._await_db(req, endpoint, addr, job, resume)
            return
        nat = self.nat.registration(endpoint, addr) if nated else None
        try:
            reply = self.registrar.save(req, endpoint, addr, nat)
        finally:
            if aor is not None and ul.db_mode == 3:
                ul.prefetched(aor, None)
        # write-through while the database is known to be away: 503 + Retry-After (or,
        # usrloc_ack_unstored, Kamailio's 200 at once); the contacts stay in memory,
        # dirty, and the timer writes them when it is back
        through = ul.db_mode == 3 or (ul.db_mode == 1 and ul.deferred and not self.db.down)
        lenient = self.config.usrloc_ack_unstored
        if reply[0] == 200 and ul.deferred and ul.db_mode == 1 and not through and not lenient:
            reply = _UNSTORED
        if reply[0] == 200 and ul.deferred and through:
            batch = ul.take_pending()
            if batch:
                job = partial(ul.write_batch, batch)
                resume = partial(self._register_written, req, endpoint, addr, batch, reply)
                self._await_db(req, endpoint, addr, job, resume)
                return
        self._sl_reply(req, endpoint, addr, *reply)

    def _register_fetched(
        self,
        req: Any,
        endpoint: Any,
        addr: tuple[str, int],
        aor: str,
        nated: bool,
        rows: Any,
        error: BaseException | None,
    ) -> None:
        if error is not None:  # db_mode 3: no database, no location
            self._db_failed(req, endpoint, addr, "save(location)", error)
            return
        self.usrloc.prefetched(aor, rows)
        self.register(req, endpoint, addr, nated)

    def _register_written(
        self,
        req: Any,
        endpoint: Any,
        addr: tuple[str, int],
        batch: Any,
        reply: Any,
        _written: Any,
        error: BaseException | None,
    ) -> None:
        self.usrloc.batch_written(batch, error)
        if error is not None and self.usrloc.db_mode == 3:
            self._db_failed(req, endpoint, addr, "save(location)", error)
            return
        if error is not None:
            self.log_db_error("usrloc write-through (kept for the timer)", error)
            if not self.config.usrloc_ack_unstored:
                reply = _UNSTORED
        self._sl_reply(req, endpoint, addr, *reply)

    # ------------------------------------------------------------------ relay

    def relay_initial(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        """route[LOCATION]: alias_db_lookup (on the database worker, when there is one),
        then :meth:`_relay_located`."""
        aliases = self.aliases
        if aliases is not None:
            user = getattr(req.uri, "user", None)
            if user and self.db is not None:
                job = partial(aliases.query, user, getattr(req.uri, "host", None))
                resume = partial(self._alias_found, req, endpoint, addr)
                self._await_db(req, endpoint, addr, job, resume)
                return
            aliases.rewrite(req)
        self._relay_located(req, endpoint, addr)

    def _alias_found(
        self, req: Any, endpoint: Any, addr: tuple[str, int], found: Any, error: Any
    ) -> None:
        """As alias_db: a lookup that fails counts as no alias; the call goes on."""
        if error is not None:
            self.log_db_error("alias_db_lookup", error)
        else:
            self.aliases.apply(req, found)
        self._relay_located(req, endpoint, addr)

    def _located(
        self,
        req: Any,
        endpoint: Any,
        addr: tuple[str, int],
        aor: str,
        rows: Any,
        error: BaseException | None,
    ) -> None:
        """db_mode 3: the bindings of ``aor`` arrived from the worker. Kamailio's
        lookup() fails the same way for "no contacts" and "no database" (the cfg then
        says 404); a user who may well be registered gets 500 here instead."""
        if error is not None:
            self._db_failed(req, endpoint, addr, "lookup(location)", error)
            return
        self.usrloc.prefetched(aor, rows)
        try:
            self._relay_located(req, endpoint, addr)
        finally:
            self.usrloc.prefetched(aor, None)

    def _relay_located(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        """route[LOCATION] after alias_db_lookup: lookup, then t_relay to the bindings.

        As the reference cfg, lookup("location") runs for every R-URI, whatever its
        domain: with usrloc's use_domain 0 the AoR is the user alone, so a request for
        sip:1002@another-host (or tel:1002) from a local user reaches 1002's phones, and
        a user without bindings gets 404 at any domain; the proxy never relays to the
        R-URI's host itself (route[AUTH] has already refused foreign-to-foreign with 403)."""
        codec = self.codec
        method = req.method
        ruri = codec.ruri(req)
        user = request_user(ruri) or ""
        aor = self.usrloc.aor_key(user, getattr(ruri, "host", None))
        if self.usrloc.needs_fetch(aor):
            job = partial(self.usrloc.fetch, aor)
            resume = partial(self._located, req, endpoint, addr, aor)
            self._await_db(req, endpoint, addr, job, resume)
            return
        bindings = self.usrloc.lookup(aor)
        if not bindings:
            self._stateful_reply(req, endpoint, addr, 404, "Not Found")
            return
        bit = METHOD_BITS.get(method)
        allowed = [b for b in bindings if b.methods is None or bit is None or b.methods & bit]
        if not allowed:
            self._stateful_reply(req, endpoint, addr, 405, "Method Not Allowed")
            return
        if getattr(ruri, "secure", False):
            # RFC 3261 §16.5, RFC 5630 §3.1.3: a sips: request only goes to sips:
            # contacts (TLS on every hop); Kamailio's lookup() does not check this.
            allowed = [b for b in allowed if b.contact[:5].lower() == "sips:"]
            if not allowed:
                self._stateful_reply(req, endpoint, addr, 480, "Temporarily Unavailable")
                return
        allowed, dead = choose_flows(allowed, self._tcp_alive)  # RFC 5626: live flows only
        if not allowed:
            status = FLOW_FAILED if dead else (404, "Not Found")
            self._stateful_reply(req, endpoint, addr, *status)
            return
        groups: list[list[Target]] = []
        for b in allowed:
            target = codec.target_for_binding(b, self._tcp_alive)
            if target is None:
                continue
            if groups and groups[-1][0].q == target.q:
                groups[-1].append(target)
            else:
                groups.append([target])
        # the reference cfg's profiles for calls to local users (dlg.list order)
        from_user = getattr(codec.from_uri(req), "user", None) or ""
        profiles = [{"callee": user}, {"caller": from_user}, "inbound"]
        if method == "INVITE" and self._over_call_limit(req, endpoint, addr, profiles):
            return
        # FLT_ACCMISSED once lookup() found the user
        self._relay_new(req, endpoint, addr, groups, profiles, ACC_MISSED)

    def _relay_new(
        self,
        req: Any,
        endpoint: Any,
        addr: Any,
        groups: list[list[Target]],
        profiles: list[Any],
        acc_flags: int = 0,
    ) -> ServerTx:
        """t_relay of an initial request: the transaction (an INVITE gets FLT_ACC and
        ``acc_flags``), a dialog with ``profiles`` for an INVITE, Record-Route, then the
        branches."""
        codec = self.codec
        method = req.method
        stx = self.tm.new_server(req, endpoint, addr, codec.reply_address(req, endpoint, addr))
        stx.build = self._build_branch
        if method == "INVITE":  # setflag(FLT_ACC) for every INVITE
            stx.flags |= ACC | acc_flags
        if method in RECORD_ROUTED:
            dialog = None
            if method == "INVITE":
                dialog = self.dialogs.create(
                    codec.call_id(req),
                    str(codec.from_uri(req)),
                    str(codec.to_uri(req)),
                    Leg(
                        tag=codec.from_tag(req),
                        contact=codec.first_contact_uri(req),
                        cseq=str(codec.cseq_num(req)),
                        route_set=None,
                        socket=endpoint.listen.socket_str,
                        addr=(endpoint.proto, *stx.reply_addr),
                    ),
                    profiles,
                )
                stx.on_response = self._dialog_response
                stx.on_final = self._dialog_final
            stx.ctx = dialog
            codec.add_record_route(req, endpoint, dialog.did if dialog else None)
        stx.on_response = self.nat.reply_hook(stx.on_response, nated_target=False)
        self.c_fwd_req.value += 1
        self.tm.relay(stx, groups)
        return stx

    def _over_call_limit(self, req: Any, endpoint: Any, addr: Any, profiles: list[Any]) -> bool:
        """The usual cfg call limits on the dialog profiles this INVITE would join
        (``get_profile_size()`` before ``t_relay()``): True when it was refused.

        The statuses are the ones Kamailio deployments answer with: over the global limit
        the server is out of capacity, a temporary condition the caller may retry
        elsewhere (503, RFC 3261 21.5.4); over the caller's limit the request is refused
        to this caller until one of its calls ends (403 "Too Many Calls"); over the
        callee's limit the callee is busy, so the caller's phone shows busy (486).
        """
        cfg = self.config
        if not (cfg.max_calls or cfg.max_calls_per_caller or cfg.max_calls_per_callee):
            return False  # no limits configured (the default): nothing to count
        size = self.dialogs.profile_size
        values = {k: v for p in profiles if isinstance(p, dict) for k, v in p.items()}
        refusal = None
        if cfg.max_calls and size() >= cfg.max_calls:
            refusal = ("global", 503, "Service Unavailable - Too Many Calls")
        elif (
            cfg.max_calls_per_caller
            and "caller" in values
            and size("caller", values["caller"]) >= cfg.max_calls_per_caller
        ):
            refusal = ("caller", 403, "Too Many Calls")
        elif (
            cfg.max_calls_per_callee
            and "callee" in values
            and size("callee", values["callee"]) >= cfg.max_calls_per_callee
        ):
            refusal = ("callee", 486, "Busy Here")
        if refusal is None:
            return False
        which, status, reason = refusal
        self.c_limit[which].value += 1
        log.info("%s limit: %s %s to %s refused (%d)", which, req.method,
                 values.get("caller", ""), req.uri_text, status)  # fmt: skip
        self._sl_reply(req, endpoint, addr, status, reason)
        return True

    # ------------------------------------------------------------------ dispatcher

    def dispatch(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        """route[DISPATCH]: ``ds_select_dst(set, alg)`` (404 "No destination" when nothing
        in the set is usable), a dialog with the profiles ``outbound`` and ``caller=$fU``,
        t_relay with failure_route[DISPATCH_FAIL] (:meth:`_dispatch_failure`)."""
        cfg = self.config
        chosen = self.dispatcher.select(cfg.dispatch_set, cfg.dispatch_alg, self.codec.call_id(req))
        candidates = [d for d in chosen or () if d.dest is not None]
        if not candidates:
            self._sl_reply(req, endpoint, addr, 404, "No destination")
            return
        from_user = getattr(self.codec.from_uri(req), "user", None) or ""
        profiles: list[Any] = [{"caller": from_user}, "outbound"]
        if self._over_call_limit(req, endpoint, addr, profiles):
            return
        first = Target(req.uri_text, candidates[0].dest)
        stx = self._relay_new(req, endpoint, addr, [[first]], profiles)
        stx.on_failure = partial(self._dispatch_failure, candidates)

    def _dispatch_failure(self, candidates: list[Any], stx: ServerTx, ctx: Any) -> Any:
        """failure_route[DISPATCH_FAIL]: not for a cancelled call; on a 500, or a timeout
        without any reply, ``ds_mark_dst("ip")`` and ``ds_next_dst()``: the next target,
        or None (the best reply goes to the caller)."""
        if stx.canceled:
            return None
        timed_out = ctx.final is None and not ctx.replied
        if not (timed_out or (ctx.final is not None and ctx.status == 500)):
            return None
        self.dispatcher.mark(candidates.pop(0), "ip")
        if not candidates:
            return None
        return [Target(stx.request.uri_text, candidates[0].dest)]

    def send_probe(self, dst: Any, done: Any) -> None:
        """A dispatcher keepalive to ``dst`` through tm; ``done(status)`` with the final
        status (408 on timeout, 500 when it cannot be sent)."""
        if dst.dest is None or self.transports is None:
            done(500)
            return
        settings = self.dispatcher.settings
        local = self.local_socket(dst.dest)
        if local is None:
            done(500)
            return

        def build(branch: str) -> Any:
            return self.codec.make_probe(
                settings.ping_method, dst.uri, settings.ping_from, local, branch
            )

        def final(_stx: ServerTx, response: Any) -> None:
            done(response.status if response is not None else 408)

        self.tm.send_local(settings.ping_method, dst.dest, build, on_final=final)

    def _tcp_alive(self, addr: tuple[str, int]) -> bool:
        return self.transports is not None and self.transports.alive(addr)

    def _stateful_reply(self, req: Any, endpoint: Any, addr: Any, status: int, reason: str) -> None:
        """t_newtran + send_reply: a local final answer kept for retransmissions."""
        stx = self.tm.new_server(req, endpoint, addr, self.codec.reply_address(req, endpoint, addr))
        self.tm.local_reply(stx, status, reason)

    def _build_branch(self, stx: ServerTx, target: Target, branch: str) -> Any:
        """The request as it goes out on one branch: R-URI, Via, Path routes, Max-Forwards;
        from the contact's registered socket, else the one that reaches it."""
        local = self.local_socket(target.dest, getattr(target.binding, "socket", None))
        out = self.codec.forward(stx.request, target, branch, local, self.config.max_forwards)
        inbound = stx.endpoint.listen if stx.endpoint is not None else None
        if local is not None and local != inbound and self._record_routed(out):
            # enable_double_rr: leaving on another socket (UDP in, TLS out, another address
            # or IPv4 in, IPv6 out ...) the callee
            # must reach us on the outbound one and the caller on the inbound one, so a
            # second entry of ours goes on top; loose_route() consumes both.
            # Both entries carry r2=on, as Kamailio's rr module marks a double route.
            did = getattr(stx.ctx, "did", None)
            r2 = self.codec.record_route
            out.headers.replace_first_value("record-route", r2(inbound, out.from_tag, did, r2=True))
            out.prepend_record_route(r2(local, out.from_tag, did, r2=True))
        return out

    def _record_routed(self, req: Any) -> bool:
        """True when the top Record-Route is ours (we record-routed this request)."""
        try:
            rrs = req.record_routes
        except ParseError:
            return False
        return bool(rrs) and self.is_myself(rrs[0].uri)

    # ------------------------------------------------------------------ in-dialog

    def within_dialog(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        """route[WITHINDLG]: loose_route() relay, ACK pass-through, else 404."""
        codec = self.codec
        method = req.method
        routed = codec.loose_route(req, self.is_myself)
        if routed is None:
            if method != "ACK":
                self._sl_reply(req, endpoint, addr, 404, "Not here")
            else:
                self.c_drop_req.value += 1
            return
        did, target, second = routed
        if second is not None and target is not None and self.transports is not None:
            # a double Record-Route: send from the socket our second entry names
            lst = self.transports.listen_named(socket_of_uri(second))
            if lst is not None and lst.proto == target.dest[0]:
                self.transports.force(target.dest, lst)
        dialog = self.dialogs.by_did(did) if did else None
        if dialog is None:
            dialog = self.dialogs.find(codec.call_id(req), codec.from_tag(req), codec.to_tag(req))
        alias_dest = None
        if not req.routes:  # DLGURI: the R-URI is the next hop (no Route of another proxy)
            alias_dest = self.nat.handle_ruri_alias(req)
            if alias_dest is not None:
                target = Target(req.uri_text, alias_dest)
        if target is None:
            self._sl_reply(req, endpoint, addr, 404, "Not here")
            return
        if dialog is not None:
            if method == "ACK":
                self.dialogs.acked(dialog)
            elif method == "BYE":
                self.dialogs.bye(dialog)
            elif dialog.state != DLG_STATE_DELETED:
                self._update_cseq(dialog, req)
        self.c_fwd_req.value += 1
        reply_addr = codec.reply_address(req, endpoint, addr)
        if method == "ACK":
            local = self.local_socket(target.dest)
            branch = codec.stateless_branch(req)
            out = codec.forward(req, target, branch, local, self.config.max_forwards, keep_uri=True)
            self.send_to(target.dest, out.to_bytes())
            return
        stx = self.tm.new_server(req, endpoint, addr, reply_addr)
        if method == "BYE":  # setflag(FLT_ACC); setflag(FLT_ACCFAILED)
            stx.flags |= ACC | ACC_FAILED
        stx.build = self._build_in_dialog
        if alias_dest is not None:
            stx.on_response = self.nat.reply_hook(stx.on_response, nated_target=True)
        self.tm.relay(stx, [[target]])

    def _build_in_dialog(self, stx: ServerTx, target: Target, branch: str) -> Any:
        local = self.local_socket(target.dest)
        return self.codec.forward(
            stx.request, target, branch, local, self.config.max_forwards, keep_uri=True
        )

    def _update_cseq(self, dialog: Any, req: Any) -> None:
        tag = self.codec.from_tag(req)
        leg = dialog.caller if tag == dialog.caller.tag else dialog.callee
        leg.cseq = str(self.codec.cseq_num(req))

    # ------------------------------------------------------------------ dialogs

    def _dialog_response(self, stx: ServerTx, ctx: Any, resp: Any) -> None:
        dialog = stx.ctx
        if dialog is None:
            return
        status = resp.status
        if 100 < status < 200:
            self.dialogs.provisional(dialog, self.codec.to_tag(resp))
        elif 200 <= status < 300:
            caller_routes, callee_routes = self._route_sets(resp, dialog.did)
            dialog.caller.route_set = caller_routes
            self.dialogs.confirmed(
                dialog,
                Leg(
                    tag=self.codec.to_tag(resp),
                    contact=self.codec.first_contact_uri(resp),
                    cseq="0",
                    route_set=callee_routes,
                    socket=_socket_str(self.local_socket(ctx.target.dest)),  # the one we sent from
                    addr=ctx.target.dest,
                ),
            )

    def _route_sets(self, resp: Any, did: str) -> tuple[str, str]:
        """(towards the caller, towards the callee) from the 2xx's Record-Route: the
        entries below ours lead to the caller, those above ours (reversed) to the callee.
        Comma-joined, "" when there is none (as dlg.list prints them)."""
        try:
            rrs = [str(r) for r in resp.record_routes]
            ours = next(
                i
                for i, r in enumerate(resp.record_routes)
                if self.is_myself(r.uri) and getattr(r.uri, "params", {}).get("did") == did
            )
        except (ParseError, StopIteration):
            return "", ""
        last = ours  # a double Record-Route: both entries are ours
        while last + 1 < len(rrs) and self._is_our_rr(resp.record_routes[last + 1], did):
            last += 1
        return ",".join(rrs[last + 1 :]), ",".join(reversed(rrs[:ours]))

    def _is_our_rr(self, rr: Any, did: str) -> bool:
        return self.is_myself(rr.uri) and getattr(rr.uri, "params", {}).get("did") == did

    def _dialog_final(self, stx: ServerTx, final: Any) -> None:
        dialog = stx.ctx
        if dialog is None:
            return
        if final is None or final.status >= 300:
            self.dialogs.failed(dialog)

    def _send_bye(self, dialog: Any, side: str) -> None:
        """BYE from the proxy to one side of ``dialog`` (lifetime or dlg.end_dlg), sent as
        a client transaction (retransmitted over UDP, replies absorbed)."""
        leg = dialog.callee if side == "callee" else dialog.caller
        if leg.addr is None or not leg.contact:
            return
        local = self.local_socket(leg.addr, leg.socket)
        self.tm.send_local(
            "BYE", leg.addr, lambda branch: self.codec.make_bye(dialog, side, local, branch)
        )

    # ================================================================== responses

    def route_response(self, resp: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        codec = self.codec
        via = codec.top_via(resp)
        if via is None or not self._via_is_ours(via):
            self.c_drop_rpl.value += 1
            return
        if self.nat.absorb_reply(resp):  # the answer to a NAT keepalive
            return
        local = self.tm.answers_local(resp)
        if self.tm.response(resp, endpoint, addr):
            # the replies to our own requests (dispatcher probes, dlg.end_dlg BYEs) and to
            # our CANCELs stop here: not forwarded, so not core:fwd_replies (as Kamailio)
            if not local and resp.cseq.method != "CANCEL":
                self.c_fwd_rpl.value += 1
            return
        # no transaction: forward statelessly by the next Via (2xx retransmissions ...)
        nxt = codec.second_via(resp)
        if nxt is None:
            self.c_drop_rpl.value += 1
            return
        host, port = nxt.response_address()
        self.c_fwd_rpl.value += 1
        self.send_to((nxt.transport.lower(), host, port), codec.strip_via(resp))

    def _via_is_ours(self, via: Any) -> bool:
        return via.host.lower() in self.local_names and (via.port or 5060) in self.local_ports


def request_user(uri: Any) -> str | None:
    """``$rU``: the user of a sip:/sips: URI, the number of a tel: URI (as Kamailio reads
    it), else None (the cfg then answers 484)."""
    if isinstance(uri, TelURI):
        return uri.number or None
    return getattr(uri, "user", None)


def _socket_str(listen: Any) -> str | None:
    return listen.socket_str if listen is not None else None
