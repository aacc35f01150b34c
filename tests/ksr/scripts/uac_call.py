"""A KEMI route script in app_python3's style (written for kamtool's tests) for a call whose
From the route replaces with uac (tests/ksr/test_uac_replace.py): an initial request is
record-routed, its From replaced by ``New Name <sip:newfrom@example.net>`` and relayed to
the ``X-Relay`` header's URI, with the return codes in ``X-Rc``; a request inside the
dialog follows its Route (uac's auto restore mode swaps From/To back there).
"""

import KSR


def mod_init():
    return Route()


class Route:
    def child_init(self, rank):  # app_python3 refuses to start without it
        return 0

    def ksr_reply_route(self, msg):
        return 1

    def ksr_request_route(self, msg):
        if KSR.is_ACK() and KSR.siputils.has_totag() < 0:
            KSR.tm.t_relay()
            return 1
        if KSR.siputils.has_totag() > 0:
            rc = KSR.uac.uac_replace_from_uri("sip:indialog@example.net")
            KSR.hdr.append(f"X-Rc: {rc}\r\n")
            if KSR.rr.loose_route() > 0:
                KSR.tm.t_relay()
            else:
                KSR.sl.sl_send_reply(404, "Not here")
            return 1
        KSR.rr.record_route()
        rcs = [
            KSR.uac.uac_replace_from("New Name", "sip:newfrom@example.net"),
            KSR.uac.uac_replace_from("Again", "sip:again@example.net"),
            KSR.uac.uac_restore_from(),
        ]
        KSR.hdr.append("X-Rc: " + ",".join(str(rc) for rc in rcs) + "\r\n")
        KSR.hdr.append(f"X-Fu: {KSR.pv.get('$fu')}\r\n")
        KSR.pv.sets("$du", KSR.hdr.get("X-Relay"))
        KSR.tm.t_relay()
        return 1
