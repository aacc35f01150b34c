"""kamtool's default route: the reference ``kamailio-interop.cfg`` as a KEMI script.

It reads top to bottom like the cfg's ``request_route`` (REQINIT, NATDETECT, CANCEL and
retransmissions, WITHINDLG, AUTH, REGISTRAR, DISPATCH, LOCATION, RELAY, the failure
route of DISPATCH and the NAT reply route), in the KSR API any user script has. Where
kamtool does more than the cfg it says so: NAT handling as the stock kamailio.cfg's
WITH_NAT, call limits on the dialog profiles, sips: only to sips: contacts, 500 when
the database fails, and an INVITE that waits for the database gets 100 Trying (and 487
when CANCELled meanwhile). Those use ``KSR.kamtool`` (kamtool's own functions), which
also gives the ``[proxy]`` settings. The method is read once and compared as a string
(each KSR call costs about a microsecond; this route runs for every request).

Run it as any script (``kamtool serve --route``) to start a policy of your own from it.
"""

import KSR

EXIT = -255  # the scripts' convention: the route block ended the processing

FLT_ACC = 1
FLT_ACCMISSED = 2
FLT_ACCFAILED = 3
FLT_NATS = 5
FLB_NATB = 6
FLB_NATSIPPING = 7
FLT_SRC_WS = 8  # the request came over a WebSocket: a browser

TRYING = "trying -- your call is important to us"  # Kamailio tm's 100 text

_settings = []  # the [proxy] settings, read at the first request (one object per script load)


def cfg():
    """The proxy's settings (``KSR.kamtool.settings()``; frozen, so read once)."""
    if not _settings:
        _settings.append(KSR.kamtool.settings())
    return _settings[0]


def ksr_request_route():
    method = KSR.kx.get_method()  # read once: the route blocks compare it
    settings = cfg()
    if reqinit_flood(settings) == EXIT:
        return 1
    natdetect(method, settings)
    if reqinit(method, settings) == EXIT:
        return 1
    if method == "CANCEL":
        if KSR.tm.t_check_trans() > 0:
            relay()
        elif KSR.kamtool.cancel_waiting() > 0:
            KSR.sl.sl_send_reply(200, "canceling")
        else:
            KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
        return 1
    if method != "ACK":
        if KSR.tmx.t_precheck_trans() > 0:
            # the first copy still waits for the database
            if method == "INVITE":
                KSR.sl.sl_send_reply(100, TRYING)
            return 1
        if KSR.tm.t_check_trans() == 0:
            return 1  # a retransmission: tm sent its reply again
    if settings.overload and KSR.kamtool.refuse_new() > 0:
        return 1  # overloaded: 503 (kamtool's overload protection, [proxy] overload)
    if settings.edge_registrar:
        edge(method, settings)  # an edge proxy in front of the registrar (RFC 5626)
        return 1
    if withindlg(method) == EXIT:
        return 1
    if method == "ACK":
        return 1  # no transaction and no dialog of ours: dropped
    KSR.hdr.remove("Route")
    if method == "INVITE" or method == "SUBSCRIBE":
        KSR.rr.record_route()
    if method == "INVITE":
        KSR.setflag(FLT_ACC)
        KSR.kamtool.early_trying()
    if auth(method) == EXIT:
        return 1
    if method == "REGISTER":
        registrar()
        return 1
    user = KSR.pv.get("$rU")
    if user is None:
        KSR.sl.sl_send_reply(484, "Address Incomplete")
        return 1
    if method == "INVITE" and dispatch(user) == EXIT:
        return 1
    location(method)
    return 1


def reqinit_flood(settings):
    """route[REQINIT], flood part: banned sources, scanners (the stock kamailio.cfg's
    User-Agent rule: dropped silently) and pike."""
    if not KSR.pv.is_null("$sht(ipban=>$si)"):
        KSR.dbg("request from banned ip " + KSR.pv.get("$si") + " dropped\n")
        return EXIT
    if settings.scanner_user_agents and _search_nocase(
        settings.scanner_user_agents, KSR.pv.gete("$ua")
    ):
        KSR.dbg("request from scanner " + KSR.pv.get("$si") + " dropped\n")
        return EXIT
    rc = KSR.pike.pike_check_req()
    if rc < 0:
        if rc == -2:  # the request that made the source hot: one line per block
            source = KSR.pv.get("$si") + ":" + str(KSR.pv.get("$sp"))
            what = KSR.pv.get("$rm") + " from " + KSR.pv.gete("$fu")
            KSR.warn("pike blocking " + what + " (IP:" + source + ")\n")
        KSR.pv.seti("$sht(ipban=>$si)", 1)
        return EXIT
    return 1


def natdetect(method, settings):
    """NATDETECT (kamailio.cfg WITH_NAT): force rport, the source as the contact of a
    NATed REGISTER, an alias on other requests straight from the UA."""
    # a browser over WebSocket (RFC 7118) is reached over its connection only, whatever
    # its Contact says (a made-up .invalid host): NATed always, as Kamailio's WebRTC cfg
    # treats it with nat_uac_test(64), even without WITH_NAT
    proto = KSR.pv.get("$pr")
    websocket = proto in ("ws", "wss")
    if websocket:
        KSR.setflag(FLT_SRC_WS)  # its replies go back to a browser (media())
    if not settings.nat and not websocket:
        return 1
    tests = settings.nat_uac_test
    if proto in ("tcp", "tls") and method != "REGISTER":
        # a connection's source port is never the one the Contact names: reach the UA
        # over its connection (16, as the stock cfg's 19; kept off UDP, see proxy.nat; a
        # REGISTER's binding records the connection's peer in the registrar already)
        tests |= 16
    if websocket or KSR.nathelper.nat_uac_test(tests) > 0:
        KSR.force_rport()
        if method == "REGISTER":
            KSR.nathelper.fix_nated_register()
        elif KSR.siputils.is_first_hop() > 0:
            KSR.nathelper.set_contact_alias()
        KSR.setflag(FLT_NATS)
    return 1


def reqinit(method, settings):
    """route[REQINIT], the rest: Max-Forwards, OPTIONS keepalive, sanity."""
    if KSR.maxfwd.process_maxfwd(settings.max_forwards) < 0:
        KSR.sl.sl_send_reply(483, "Too Many Hops")
        return EXIT
    if method == "OPTIONS" and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0:
        KSR.sl.sl_send_reply(200, "Keepalive")
        return EXIT
    if KSR.sanity.sanity_check(17895, 7) < 0:
        return EXIT  # answered with the reason
    return 1


def relay():
    """route[RELAY]."""
    media()
    if KSR.tm.t_relay() < 0:
        KSR.sl.sl_reply_error()
    return EXIT


def withindlg(method):
    """route[WITHINDLG]: loose routing on our Record-Route, else 404 Not here."""
    if KSR.siputils.has_totag() < 0:
        return 1
    if KSR.rr.loose_route() > 0:
        if not KSR.isdsturiset() and KSR.nathelper.handle_ruri_alias() > 0:
            KSR.setbflag(FLB_NATB)  # DLGURI: the R-URI's alias is the next hop
        if method == "BYE":
            KSR.setflag(FLT_ACC)
            KSR.setflag(FLT_ACCFAILED)
        nat_replies(method)
        media()  # a re-INVITE's offer, an ACK's answer, a BYE's delete
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_send_reply(404, "Not here")
        return EXIT
    if method == "ACK":
        if KSR.tm.t_check_trans() > 0:
            relay()
        return EXIT
    KSR.sl.sl_send_reply(404, "Not here")
    return EXIT


def auth(method):
    """route[AUTH]: trusted sources, digest (401/407; 403 for another user's
    credentials), no open relay."""
    settings = cfg()
    if not settings.auth:
        return 1
    register = method == "REGISTER"
    if not register and KSR.permissions.allow_source_address(settings.trusted_group) > 0:
        return 1
    from_local = KSR.is_myself_furi() or KSR.domain.is_from_local() > 0
    if register or from_local:
        realm = KSR.pv.get("$fd") or settings.domain or KSR.pv.get("$si")
        rc = KSR.auth_db.auth_check(realm, "subscriber", 1)
        if rc == -8:
            KSR.sl.sl_send_reply(403, "Forbidden")
            return EXIT
        if rc == -1:  # the database failed: 500 (the cfg would challenge again)
            KSR.sl.sl_reply_error()
            return EXIT
        # a wrong password or no such user: counted, maybe banned (then dropped)
        if (rc == -2 or rc == -3) and auth_failed(method, realm, settings) == EXIT:
            return EXIT
        if rc < 0:
            KSR.auth.auth_challenge(realm, 1 if settings.auth_qop else 0)
            return EXIT
        if not register:
            KSR.auth.consume_credentials()
    if not from_local and not (KSR.is_myself_ruri() or KSR.domain.is_uri_host_local() > 0):
        KSR.sl.sl_send_reply(403, "Not relaying")
        return EXIT
    return 1


def auth_failed(method, realm, settings):
    """A failed authentication: one fail2ban line, counted per source and per user in
    htable ``authfail`` (each failure restarts its expiry, auth_fail_window); the
    source goes to ``ipban`` at auth_fail_limit failures (and this request is dropped).
    A spoofed UDP source can get an address banned this way, as with pike: trusted
    peers belong in the permissions table (route[AUTH] lets them through first)."""
    source = KSR.pv.get("$si")
    user = KSR.pv.gete("$au")
    KSR.warn("AUTH_FAILED: method=" + _log_safe(method) + " user=" + _log_safe(user)
             + " from=" + source + "\n")  # fmt: skip
    if not settings.auth_fail_limit:
        return 1
    KSR.htable.sht_inc("authfail", "user:" + user + "@" + realm)
    if KSR.htable.sht_inc("authfail", source) >= settings.auth_fail_limit:
        KSR.htable.sht_rm("authfail", source)
        KSR.htable.sht_seti("ipban", source, 1)
        KSR.warn("AUTH_BANNED: from=" + source + " after " + str(settings.auth_fail_limit)
                 + " failed authentications\n")  # fmt: skip
        return EXIT
    return 1


def registrar():
    """route[REGISTRAR]: save("location"), the NAT flags of a NATed phone."""
    if KSR.isflagset(FLT_NATS):
        KSR.setbflag(FLB_NATB)
        if cfg().natping_interval > 0:
            KSR.setbflag(FLB_NATSIPPING)
    if KSR.registrar.save("location", 0) < 0:
        KSR.sl.sl_reply_error()
    return EXIT


def dispatch(user):
    """route[DISPATCH]: INVITEs to the dispatch pattern go to the dispatcher set."""
    settings = cfg()
    if not settings.dispatch_pattern or not _matches(settings.dispatch_pattern, user):
        return 1
    if KSR.dispatcher.ds_select_dst(settings.dispatch_set, settings.dispatch_alg) < 0:
        KSR.sl.send_reply(404, "No destination")
        return EXIT
    KSR.dialog.dlg_manage()
    KSR.dialog.set_dlg_profile("outbound")
    KSR.dialog.set_dlg_profile("caller", KSR.pv.gete("$fU"))
    if KSR.kamtool.call_limits() > 0:
        return EXIT
    KSR.tm.t_on_failure("dispatch_fail")
    nat_replies("INVITE")
    relay()
    return EXIT


def location(method):
    """route[LOCATION]: alias, lookup (404/405; 480 when registered but no contact can
    be used now; 500 when the database failed), the dialog and its limits, relay."""
    KSR.alias_db.lookup("dbaliases")
    # a call from the carrier to a line we register upstream (uacreg) goes to its local
    # user; uac_reg_lookup returns -1 at once when there are no uacreg rows
    KSR.uac.uac_reg_lookup("$rU", "$ru")
    rc = KSR.registrar.lookup("location")
    if rc == -3:
        KSR.sl.sl_reply_error()
        return EXIT
    if rc < 0:
        KSR.tm.t_newtran()
        if rc == -2:
            KSR.sl.send_reply(405, "Method Not Allowed")
        elif KSR.kamtool.flow_failed() > 0:
            # RFC 5626 5.3: registered, but over connections that are closed now
            KSR.sl.send_reply(430, "Flow Failed")
        elif KSR.registrar.registered("location") > 0:
            # registered, but no contact to use now: a browser whose WebSocket closed, a
            # sips: request without a sips: contact (RFC 5630; Kamailio's lookup() would
            # relay it over any transport). Kamailio relays to the closed connection and
            # fails with a 5xx; the caller learns more from 480.
            KSR.sl.send_reply(480, "Temporarily Unavailable")
        else:
            KSR.sl.send_reply(404, "Not Found")
        return EXIT
    if method == "INVITE":
        KSR.dialog.dlg_manage()
        KSR.dialog.set_dlg_profile("inbound")
        KSR.dialog.set_dlg_profile("caller", KSR.pv.gete("$fU"))
        KSR.dialog.set_dlg_profile("callee", KSR.pv.gete("$rU"))
        if KSR.kamtool.call_limits() > 0:
            return EXIT
        KSR.setflag(FLT_ACCMISSED)
    if KSR.kamtool.spare_flows() > 0:
        KSR.tm.t_on_failure("flow_failover")
    nat_replies(method)
    relay()
    return EXIT


def flow_failover():
    """failure_route: a 430 Flow Failed from the flow lookup() chose for an instance
    that registered more than one: its next newest flow (RFC 5626 7)."""
    if KSR.tm.t_is_canceled() > 0:
        return 1
    if KSR.tm.t_check_status("430") > 0 and KSR.kamtool.next_flow() > 0:
        KSR.tm.t_on_failure("flow_failover")
    return 1


def edge(method, settings):
    """``[proxy] edge_registrar``: an edge proxy (RFC 5626 5, RFC 3327) in front of the
    registrar, as Kamailio's outbound edge.cfg. A Route of ours with a flow token (the
    Path or Record-Route we added) sends the request over that flow: 403 for a token we
    did not make, 430 when the flow is closed. What the clients send goes to the
    registrar: a REGISTER with our Path (received=, and a flow token and ;ob when it asks
    for outbound), a dialog record-routed (;ob with the flow token when its Contact has
    ;ob). No authentication here: the registrar challenges, the edge relays."""
    rc = KSR.rr.loose_route()
    if rc == -2:
        KSR.sl.sl_send_reply(403, "Forbidden")
        return EXIT
    if rc == -3:
        KSR.sl.sl_send_reply(430, "Flow Failed")
        return EXIT
    in_dialog = KSR.siputils.has_totag() > 0
    if rc < 0 and in_dialog:
        if method == "ACK":
            if KSR.tm.t_check_trans() > 0:
                relay()
            return EXIT
        KSR.sl.sl_send_reply(404, "Not here")
        return EXIT
    if not KSR.isdsturiset():  # from a client: on to the registrar
        KSR.setdsturi(settings.edge_registrar)
        if method == "REGISTER":
            KSR.path.add_path_received()  # the flow: a token, received= without outbound
            if KSR.siputils.is_supported("path") < 0:
                # a phone that does not announce Path support would get 420 from a strict
                # registrar (path_mode 2): the edge says it, as the path module's docs do
                KSR.hdr.append("Supported: path\r\n")
    if not in_dialog and (method == "INVITE" or method == "SUBSCRIBE"):
        KSR.rr.record_route()
    nat_replies(method)
    relay()
    return EXIT


# the requests whose replies nat_reply has work on: a Contact to alias (ISUNL), an SDP
# answer or a failed call for RTPEngine (INVITE, UPDATE, PRACK), BYE's end of the media;
# kamailio.cfg arms its reply route for INVITE, SUBSCRIBE and UPDATE only
REPLY_ROUTED = {"INVITE", "SUBSCRIBE", "UPDATE", "NOTIFY", "REFER", "PRACK", "BYE"}


def nat_replies(method):
    """Replies of NATed callees get the alias of where they came from."""
    if method not in REPLY_ROUTED:
        return
    settings = cfg()
    if settings.nat or settings.rtpengine or any(x.proto in ("ws", "wss") for x in settings.listen):
        KSR.tm.t_on_reply("nat_reply")


def nat_reply():
    """onreply route: set_contact_alias on the replies of a NATed branch that come
    straight from the UA (two Vias: ours and the caller's)."""
    nated = KSR.isbflagset(FLB_NATB) or KSR.pv.get("$pr") in ("ws", "wss")
    if nated and KSR.is_method_in("ISUNL") and KSR.siputils.is_first_hop() > 0:
        KSR.nathelper.set_contact_alias()
    media(reply=True)  # the answer in a 183/200, the delete of a failed INVITE
    return 1


MEDIA = "replace-origin replace-session-connection"  # kamailio.cfg's NATMANAGE
# SDP towards a browser (ICE, DTLS-SRTP, RTCP on the RTP port) and from one towards a
# plain RTP phone: RTPEngine bridges the two (RFC 8827's media for the browser)
TO_BROWSER = MEDIA + " ICE=force DTLS=passive RTP/SAVPF rtcp-mux-require generate-mid SDES-off"
TO_PHONE = MEDIA + " ICE=remove DTLS=off RTP/AVP rtcp-mux-demux"


def media(reply=False):
    """route[NATMANAGE] of kamailio.cfg WITH_RTPENGINE: rtpengine_manage() on requests
    and replies, when ``[proxy] rtpengine`` is set. kamailio.cfg relays the media of
    NATed calls only; kamtool's default route relays every call's (an edge in front of
    the inside network hides it for media too), with the flags of a browser on either
    side: a request goes to a browser when its R-URI (the contact lookup() chose, or
    the dialog's target) is a ;transport=ws one, a reply when the request came over a
    WebSocket."""
    if not cfg().rtpengine:
        return 1
    from_browser = KSR.pv.get("$pr") in ("ws", "wss")
    if reply:
        to_browser = KSR.isflagset(FLT_SRC_WS)
    else:
        to_browser = ";transport=ws" in (KSR.pv.get("$ru") or "").lower()
    if to_browser:
        flags = TO_BROWSER
    elif from_browser:
        flags = TO_PHONE
    else:
        flags = MEDIA
    KSR.rtpengine.rtpengine_manage(flags)
    return 1


def dispatch_fail():
    """failure_route[DISPATCH_FAIL]: a 500 or a silent destination: the next one."""
    if KSR.tm.t_is_canceled() > 0:
        return 1
    timeout = KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0
    if KSR.tm.t_check_status("500") > 0 or timeout:
        KSR.dispatcher.ds_mark_dst("ip")
        if KSR.dispatcher.ds_next_dst() > 0:
            KSR.tm.t_on_failure("dispatch_fail")
            KSR.tm.t_relay()
    return 1


_patterns = {}


def _matches(pattern, text):
    import re

    compiled = _patterns.get(pattern)
    if compiled is None:
        compiled = _patterns[pattern] = re.compile(pattern)
    return compiled.match(text) is not None


def _search_nocase(pattern, text):
    """The cfg's ``=~``: a case-insensitive search."""
    import re

    key = ("i", pattern)
    compiled = _patterns.get(key)
    if compiled is None:
        compiled = _patterns[key] = re.compile(pattern, re.IGNORECASE)
    return compiled.search(text) is not None


def _log_safe(text):
    """``text`` for a log line a fail2ban regex reads: no spaces, quotes or control
    characters from the network (a user name "x from=10.0.0.1" must not name an address)."""
    from urllib.parse import quote

    return quote(text or "-", safe="@.-_+~!*()'")
