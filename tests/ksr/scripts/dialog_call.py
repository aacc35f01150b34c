"""A KEMI route script in app_python3's style (written for kamtool's tests) for a tracked
call (tests/ksr/test_dialog_bye.py): an initial INVITE becomes a dialog in profile
"caller" (value: the From user), is record-routed and relayed to the ``X-Relay`` header's
URI. Inside the dialog a request follows its Route with the dialog functions' return codes
in ``X-Rc``; one with an ``X-Bye`` header is answered 200 and the proxy sends BYE to that
side of the dialog (``dlg_bye``). The initial INVITE sets a dialog variable and the
lifetime before the dialog exists (their return codes in ``X-Init-Rc``).
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
        if KSR.siputils.has_totag() > 0:
            if KSR.rr.loose_route() < 0:
                KSR.sl.sl_send_reply(404, "Not here")
                return 1
            if KSR.is_ACK():
                KSR.tm.t_relay()
                return 1
            side = KSR.hdr.get("X-Bye")
            if side:
                got = [KSR.dialog.var_get("k"), KSR.dialog.var_get("first")]
                rc = [*got, KSR.dialog.dlg_bye(side)]
                KSR.sl.sl_send_reply(200, "Rc " + ",".join(str(v) for v in rc))
                return 1
            rcs = [
                KSR.dialog.is_in_profile("caller", KSR.pv.get("$fU")),
                KSR.dialog.is_in_profile("caller", "other"),
                KSR.dialog.var_sets("k", "v"),
                KSR.dialog.dlg_set_timeout(60),
            ]
            KSR.hdr.append("X-Rc: " + ",".join(str(rc) for rc in rcs) + "\r\n")
            KSR.tm.t_relay()
            return 1
        if KSR.is_ACK():
            return 1
        KSR.dialog.dlg_manage()
        KSR.dialog.set_dlg_profile("caller", KSR.pv.get("$fU"))
        # before the dialog exists: kept for the dialog t_relay() makes
        rcs = [KSR.dialog.var_sets("first", "f"), KSR.dialog.dlg_set_timeout(3600)]
        KSR.hdr.append("X-Init-Rc: " + ",".join(str(rc) for rc in rcs) + "\r\n")
        KSR.rr.record_route()
        KSR.pv.sets("$du", KSR.hdr.get("X-Relay"))
        KSR.tm.t_relay()
        return 1
