"""A KEMI route script in app_python3's style (written for kamtool's tests): serial
forking as Kamailio scripts do it, with tm's t_load_contacts()/t_next_contacts(), and
tm's other ways to relay (``t_relay_to_*``) as the caller asks in ``X-Relay``;
registration without authentication. The failure route logs what tm tells about the branches."""

import KSR


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
        if KSR.is_REGISTER():
            KSR.registrar.save("location", 0)
            return 1
        how = KSR.hdr.get("X-Relay")  # "proxy PROTO:IP:PORT", "addr PORT", "proto", "flags"
        if how:
            KSR.tm.t_set_fr_inv(20000)
            KSR.tm.t_reset_fr()
            kind, _, arg = how.partition(" ")
            if kind == "proxy":
                KSR.tm.t_relay_to_proxy(arg)
            elif kind == "addr":
                KSR.tm.t_relay_to_proto_addr("udp", "127.0.0.1", int(arg))
            elif kind == "proto":
                KSR.tm.t_relay_to_proto("udp")
            elif kind == "flags":
                KSR.tm.t_relay_to_flags(1)  # no 100 Trying
            return 1
        if KSR.registrar.lookup("location") < 0:
            KSR.sl.sl_send_reply(404, "Not Found")
            return 1
        KSR.tm.t_load_contacts()
        KSR.tm.t_next_contacts()
        KSR.tm.t_on_failure("ksr_next")
        KSR.tm.t_relay()
        return 1

    def ksr_next(self, msg):
        any_replied, busy = KSR.tm.t_any_replied(), KSR.tm.t_grep_status(486)
        KSR.err(f"SERIAL failure replied={any_replied} busy={busy}\n")
        if KSR.tm.t_is_canceled() > 0:
            return 1
        if KSR.tm.t_next_contacts() > 0:
            KSR.tm.t_on_failure("ksr_next")
            KSR.tm.t_relay()
        return 1
