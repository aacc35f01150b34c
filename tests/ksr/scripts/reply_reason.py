"""A KEMI route script in app_python3's style (written for kamtool's tests): every request
but ACK gets ``200 <REASON>``. The reload test rewrites REASON and reloads the script."""

import KSR

REASON = "first"


def mod_init():
    return Router()


class Router:
    def child_init(self, rank):  # app_python3 refuses to start without it
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_ACK():
            return 1
        KSR.sl.sl_send_reply(200, REASON)
        return 1
