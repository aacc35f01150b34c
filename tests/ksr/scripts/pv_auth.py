"""A KEMI route script in app_python3's style (written for kamtool's tests): REGISTER
authenticated with auth's ``pv_auth_check`` against a password the script holds
("secret" + the From user; its HA1 when the request says ``X-Mode: ha1``, not checking
who registers with ``X-Mode: nocheck``). 200 "Auth <code>" when it passes, else the
code in the reason of a 401 challenge."""

import hashlib

import KSR


def mod_init():
    return Router()


class Router:
    def child_init(self, rank):  # app_python3 refuses to start without it
        return 0

    def ksr_reply_route(self, msg):  # (Kamailio 5.6 breaks without one, see the cfg)
        return 1

    def ksr_request_route(self, msg):
        if KSR.is_ACK():
            return 1
        realm = KSR.pv.get("$fd")
        user = KSR.pv.get("$fU")
        mode = KSR.hdr.get("X-Mode") or "plain"
        password, flags = "secret" + user, 0
        if mode == "ha1":
            text = user + ":" + realm + ":" + password
            password, flags = hashlib.md5(text.encode()).hexdigest(), 1
        rc = KSR.auth.pv_auth_check(realm, password, flags, 0 if mode == "nocheck" else 1)
        if rc > 0:
            KSR.sl.sl_send_reply(200, "Auth " + str(rc))
        elif rc == -8:
            KSR.sl.sl_send_reply(403, "Auth -8")
        else:
            KSR.auth.auth_challenge(realm, 0)
        return 1
