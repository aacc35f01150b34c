"""A KEMI route script in app_python3's style (written for kamtool's tests) for textopsx:
a MESSAGE is relayed to the R-URI's host:port after the request-side functions ran
(``keep_hf_re`` keeping X-Keep and the essential headers, ``remove_body``, ``fnmatch``;
their codes in ``X-Codes``); in the onreply route the callee's reply is rewritten as the
``X-Want`` header *of that reply* asks (``status reason`` or ``code``), the code that
gave in ``X-Rc`` on the reply forwarded."""

import KSR

CHECKS = [
    ("fnmatch", ("12345", "123*")), ("fnmatch", ("abc", "A*")),
    ("fnmatch_ex", ("abc", "A*", "i")), ("fnmatch", ("a.c", "a?c")),
    ("fnmatch", ("abc", "[ab]bc")), ("change_reply_status", (404, "No")),
    ("change_reply_status_code", (404,)),
]


def mod_init():
    return Router()


class Router:
    def child_init(self, rank):  # app_python3 refuses to start without it
        return 0

    def ksr_reply_route(self, msg):  # (Kamailio 5.6 breaks without one, see the cfg)
        return 1

    def ksr_request_route(self, msg):
        if KSR.is_ACK() or KSR.is_CANCEL():
            return 1
        codes = [str(getattr(KSR.textopsx, name)(*args)) for name, args in CHECKS]
        codes.append(str(KSR.textopsx.remove_body()))
        KSR.textopsx.keep_hf_re("^X-Keep$")  # (Kamailio 5.6 answers -1 here: not compared)
        KSR.hdr.append("X-Codes: " + " ".join(codes) + "\r\n")
        KSR.pv.sets("$du", "sip:" + KSR.pv.get("$rd") + ":" + str(KSR.pv.get("$rp")))
        KSR.tm.t_on_reply("ksr_onreply")
        KSR.tm.t_relay()
        return 1

    def ksr_onreply(self, msg):
        want = (KSR.hdr.get("X-Want") or "").split(" ", 1)
        if not want[0]:
            return 1
        if len(want) == 2:
            rc = KSR.textopsx.change_reply_status(int(want[0]), want[1])
        else:
            rc = KSR.textopsx.change_reply_status_code(int(want[0]))
        KSR.hdr.append("X-Rc: " + str(rc) + "\r\n")
        return 1
