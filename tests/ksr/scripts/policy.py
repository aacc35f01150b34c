# A user's own route (app_python3s style: module-level functions), smaller than
# Kamailio's example: digest for local users, registrar, location, and two policies
# the tests change: FORBIDDEN_USER gets 403, numbers starting with GATEWAY_PREFIX go
# to the gateway at GATEWAY_URI. The test writes those three names into a copy.
import KSR

FORBIDDEN_USER = "1003"
GATEWAY_PREFIX = "00"
GATEWAY_URI = ""


def ksr_request_route():
    if KSR.maxfwd.process_maxfwd(10) < 0:
        KSR.sl.sl_send_reply(483, "Too Many Hops")
        return 1
    if KSR.is_CANCEL():
        if KSR.tm.t_check_trans() > 0:
            KSR.tm.t_relay()
        return 1
    if KSR.siputils.has_totag() > 0:
        if KSR.rr.loose_route() > 0:
            KSR.tm.t_relay()
        elif KSR.is_ACK():
            KSR.tm.t_check_trans()
        else:
            KSR.sl.sl_send_reply(404, "Not here")
        return 1
    if KSR.tm.t_check_trans() == 0:
        return 1
    if KSR.pv.get("$fU") == FORBIDDEN_USER:
        KSR.sl.sl_send_reply(403, "Forbidden by policy")
        return 1
    if KSR.auth_db.auth_check(KSR.pv.get("$fd"), "subscriber", 1) < 0:
        KSR.auth.auth_challenge(KSR.pv.get("$fd"), 0)
        return 1
    KSR.auth.consume_credentials()
    if KSR.is_REGISTER():
        KSR.registrar.save("location", 0)
        return 1
    KSR.hdr.remove("Route")
    if KSR.is_INVITE():
        KSR.rr.record_route()
    user = KSR.pv.gete("$rU")
    if GATEWAY_URI and user.startswith(GATEWAY_PREFIX):
        KSR.pv.sets("$du", GATEWAY_URI)
        KSR.tm.t_relay()
        return 1
    if KSR.registrar.lookup("location") < 0:
        KSR.sl.send_reply(404, "Not Found")
        return 1
    if KSR.tm.t_relay() < 0:
        KSR.sl.sl_reply_error()
    return 1
