"""A KEMI route script in app_python3's style (written for kamtool's tests) that arms all
three tm routes and logs what each sees, for the same run on Kamailio and on kamtool:

* request route: relays to the R-URI with ``$du`` set to its host:port, an AVP set;
* branch route: a header naming the branch on that branch alone;
* onreply route: logs every reply a branch receives, with ``$T_reply_code`` and the AVP;
* failure route: logs ``$T_reply_code`` and ``$du``, then sends the call on to the URI the
  caller gave in ``X-Next`` (once: the route is not armed again).
"""

import KSR


def mod_init():
    return Router()


class Router:
    def child_init(self, rank):  # app_python3 refuses to start without it
        return 0

    def ksr_reply_route(self, msg):  # (Kamailio 5.6 breaks without one, see the cfg)
        return 1

    def ksr_request_route(self, msg):
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        if KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        KSR.pv.sets("$avp(mark)", "m-" + KSR.pv.get("$rU"))
        KSR.pv.sets("$du", "sip:" + KSR.pv.get("$rd") + ":" + str(KSR.pv.get("$rp")))
        KSR.tm.t_on_branch("ksr_branch")
        KSR.tm.t_on_reply("ksr_onreply")
        KSR.tm.t_on_failure("ksr_failure")
        KSR.tm.t_relay()
        return 1

    def ksr_branch(self, msg):
        KSR.hdr.append(f"X-Branch: {KSR.pv.get('$T_branch_idx')}\r\n")
        return 1

    def ksr_onreply(self, msg):
        code, mark = KSR.pv.get("$T_reply_code"), KSR.pv.get("$avp(mark)")
        KSR.err(f"TMTEST onreply {code} avp={mark}\n")
        return 1

    def ksr_failure(self, msg):
        code, du = KSR.pv.get("$T_reply_code"), KSR.pv.get("$du")
        KSR.err(f"TMTEST failure {code} du={du}\n")
        # t_check_status: an extended POSIX expression searched in the code, unanchored
        found = [KSR.tm.t_check_status(x) for x in ("86", "^4", "^86", "4[0-9]6|503", "(")]
        KSR.err(f"TMTEST status {found}\n")
        if KSR.tm.t_is_canceled() > 0:
            return 1
        nxt = KSR.hdr.get("X-Next")
        if nxt:
            KSR.pv.sets("$ru", nxt)
            KSR.pv.sets("$du", nxt)
            KSR.hdr.append("X-Diverted: busy\r\n")
            KSR.tm.t_relay()
        return 1
