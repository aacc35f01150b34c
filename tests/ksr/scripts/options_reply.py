"""A KEMI route script in app_python3's style (written for kamtool's tests): siputils'
options_reply() for every request; its return code, when it does not answer, in the
reason of a 404."""

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
        rc = KSR.siputils.options_reply()
        if rc < 0:
            KSR.sl.sl_send_reply(404, f"Not answered {rc}")
        return 1
