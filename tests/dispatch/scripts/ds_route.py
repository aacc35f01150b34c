"""A KEMI route script for the dispatcher tests: a request with X-Ds-Set/X-Ds-Alg gets
``200 <$du>`` after KSR.dispatcher.ds_select_dst (X-Ds-Next: N more ds_next_dst() calls;
X-Ds-Mode: domain uses ds_select_domain and answers the R-URI; X-Ds-Mark: STATE marks the
destination in use); X-Ds-From: G answers whether the source is in set G."""

import KSR


def mod_init():
    return Router()


class Router:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_ACK():
            return 1
        ds = KSR.dispatcher
        group = KSR.pv.get("$hdr(X-Ds-From)")
        if group is not None:
            found = ds.ds_is_from_list(int(group))
            KSR.sl.sl_send_reply(200 if found > 0 else 404, "from" if found > 0 else "not")
            return 1
        set_id, alg = int(KSR.pv.get("$hdr(X-Ds-Set)")), int(KSR.pv.get("$hdr(X-Ds-Alg)"))
        if KSR.pv.get("$hdr(X-Ds-Mode)") == "domain":
            if ds.ds_select_domain(set_id, alg) < 0:
                KSR.sl.sl_send_reply(404, "No destination")
            else:
                KSR.sl.sl_send_reply(200, KSR.pv.get("$ru"))
            return 1
        if ds.ds_select_dst(set_id, alg) < 0:
            KSR.sl.sl_send_reply(404, "No destination")
            return 1
        for _ in range(int(KSR.pv.get("$hdr(X-Ds-Next)") or 0)):
            if ds.ds_next_dst() < 0:
                KSR.sl.sl_send_reply(410, "List used up")
                return 1
        state = KSR.pv.get("$hdr(X-Ds-Mark)")
        if state:
            ds.ds_mark_dst(state)
        KSR.sl.sl_send_reply(200, KSR.pv.get("$du"))
        return 1
