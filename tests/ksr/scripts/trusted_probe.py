"""A KEMI route script in app_python3's style (written for kamtool's tests): every request
but ACK gets ``200 trusted <allow_trusted()'s answer>``."""

import KSR


def mod_init():
    return Router()


class Router:
    def child_init(self, rank):  # app_python3 refuses to start without it
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_ACK():
            return 1
        KSR.sl.sl_send_reply(200, f"trusted {KSR.permissions.allow_trusted()}")
        return 1
