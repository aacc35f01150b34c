"""A KEMI route script in app_python3's style (written for kamtool's tests) that relays
every request to a "carrier" (the ``X-Relay`` header's URI) and answers the carrier's
digest challenge in the failure route with uac_auth() (tests/ksr/test_uac_auth.py).

The caller picks the credentials with ``X-Case``: ``ok`` (user, password, realm
carrier.example), ``anyrealm`` (empty realm variable), ``ha1`` (the password as HA1,
uac_auth_mode(1)), ``otherrealm`` (a realm the carrier does not ask for), ``nocreds``
(no user name). uac_auth() called in the request route tells its code in ``X-Req-Rc``;
in the failure route a code <= 0 ends the call with ``403 uac_auth <code>``.
"""

import hashlib

import KSR

USER, PASSWORD, REALM = "trunkuser", "trunkpass", "carrier.example"


def mod_init():
    return Router()


class Router:
    def child_init(self, rank):  # app_python3 refuses to start without it
        return 0

    def ksr_reply_route(self, msg):  # (Kamailio 5.6 breaks without one, see the cfg)
        return 1

    def ksr_request_route(self, msg):
        if KSR.is_CANCEL() or KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        # no transaction yet: nothing to authenticate
        KSR.hdr.append(f"X-Req-Rc: {KSR.uac.uac_auth()}\r\n")
        KSR.pv.sets("$du", KSR.hdr.get("X-Relay"))
        KSR.tm.t_on_failure("failure_trunk")
        KSR.tm.t_relay()
        return 1

    def failure_trunk(self, msg):
        if KSR.tm.t_is_canceled() > 0:
            return 1
        case = KSR.hdr.get("X-Case")
        realm = {"anyrealm": "", "otherrealm": "other.example"}.get(case, REALM)
        KSR.pv.sets("$avp(arealm)", realm)
        if case != "nocreds":
            KSR.pv.sets("$avp(auser)", USER)
        if case == "ha1":
            ha1 = hashlib.md5(f"{USER}:{REALM}:{PASSWORD}".encode()).hexdigest()
            KSR.pv.sets("$avp(apass)", ha1)
            rc = KSR.uac.uac_auth_mode(1)
        else:
            KSR.pv.sets("$avp(apass)", PASSWORD)
            rc = KSR.uac.uac_auth()
        if rc <= 0:
            KSR.tm.t_reply(403, f"uac_auth {rc}")
            return 1
        KSR.pv.sets("$du", KSR.hdr.get("X-Relay"))
        KSR.tm.t_on_failure("failure_trunk")  # the carrier may challenge again
        KSR.tm.t_relay()
        return 1
