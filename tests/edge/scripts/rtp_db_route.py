"""A route script for the test that media control and the database do not wait for each
other: REGISTER saves through the database (write-through), INVITE asks RTPEngine for an
offer and is relayed to its Request-URI (503 when no RTPEngine answered)."""

import KSR


def ksr_request_route():
    method = KSR.pv.get("$rm")
    if method == "REGISTER":
        KSR.registrar.save("location", 0)  # answers 200, or 500 when the database fails
    elif method == "INVITE":
        if KSR.rtpengine.rtpengine_offer("replace-origin replace-session-connection") < 0:
            KSR.sl.sl_send_reply(503, "No media relay")
            return 1
        KSR.tm.t_relay()
    return 1
