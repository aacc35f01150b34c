"""A KEMI route script in app_python3s's style (module-level functions, no mod_init()),
written for kamtool's tests: a small registrar and proxy for the local domain that refuses
calls from user 1003 with 403 and tags every relayed request with a header."""

import KSR

BLOCKED = "1003"


def ksr_request_route():
    if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0:
        KSR.sl.sl_send_reply(200, "Alive")
        return 1
    if KSR.is_CANCEL():
        if KSR.tm.t_check_trans() > 0:
            relay()
        return 1
    if KSR.siputils.has_totag() > 0:
        if KSR.rr.loose_route() > 0:
            relay()
        else:
            KSR.sl.sl_send_reply(404, "Not here")
        return 1
    if KSR.tm.t_check_trans() == 0:
        return 1
    if KSR.is_REGISTER():
        if KSR.auth_db.auth_check(KSR.pv.get("$fd"), "subscriber", 1) < 0:
            KSR.auth.auth_challenge(KSR.pv.get("$fd"), 0)
            return 1
        if KSR.registrar.save("location", 0) < 0:
            KSR.sl.sl_reply_error()
        return 1
    if KSR.pv.get("$fU") == BLOCKED:
        KSR.sl.sl_send_reply(403, "Blocked by script")
        return 1
    if KSR.is_INVITE():
        KSR.rr.record_route()
    if KSR.registrar.lookup("location") < 0:
        KSR.sl.send_reply(404, "Not Found")
        return 1
    relay()
    return 1


def relay():
    KSR.hdr.append("X-Route-Style: app_python3s\r\n")
    if KSR.tm.t_relay() < 0:
        KSR.sl.sl_reply_error()
    return -255
