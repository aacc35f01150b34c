# app_python3 style (mod_init() returns the object whose methods are the routes): the
# request route evaluates the KSR calls the request's R-URI user names and keeps what
# they returned in RESULTS, for tests/ksr/test_conventions.py to read.
import KSR

RESULTS = []

PROBES = {
    "types": [
        "KSR.is_INVITE()",
        "KSR.is_MESSAGE()",
        "KSR.is_method_in('IM')",
        "KSR.is_method_in('BR')",
        "KSR.isflagset(1)",
        "KSR.setflag(1)",
        "KSR.isflagset(1)",
        "KSR.isbflagset(6)",
        "KSR.setbflag(6)",
        "KSR.isbflagset(6)",
        "KSR.isdsturiset()",
        "KSR.siputils.has_totag()",
        "KSR.corex.has_user_agent()",
        "KSR.corex.has_ruri_user()",
        "KSR.siputils.is_request()",
    ],
    "myself": [
        "KSR.is_myself('sip:127.0.0.1')",
        "KSR.is_myself('sip:ALIAS.example')",
        "KSR.is_myself('sip:served.example')",
        "KSR.is_myself('sip:127.0.0.1:PORT')",
        "KSR.is_myself('sip:127.0.0.1:1')",
        "KSR.is_myself('sip:127.0.0.2')",
        "KSR.is_myself('127.0.0.1')",
        "KSR.is_myself_srcip()",
        "KSR.is_myself_ruri()",
        "KSR.is_myself_furi()",
        "KSR.is_myself_turi()",
    ],
    "pv": [
        "KSR.pv.get('$rm')",
        "KSR.pv.get('$rU')",
        "KSR.pv.get('$sp')",
        "KSR.pv.get('$si')",
        "KSR.pv.get('$du')",
        "KSR.pv.gete('$du')",
        "KSR.pv.is_null('$du')",
        "KSR.pv.get('$hdr(X-Probe)')",
        "KSR.pv.get('$var(x)')",
        "KSR.pv.seti('$var(x)', 7)",
        "KSR.pv.get('$var(x)')",
        "KSR.pv.getvn('$var(none)', 5)",
        "KSR.pv.getvs('$var(none)', 'd')",
        "KSR.pv.sets('$sht(ipban=>k$si)', 'v')",
        "KSR.pv.get('$sht(ipban=>k$si)')",
        "KSR.htable.sht_get('ipban', 'k127.0.0.1')",
        "KSR.pv.unset('$sht(ipban=>k$si)')",
        "KSR.pv.is_null('$sht(ipban=>k$si)')",
        "KSR.kx.get_ua()",
        "KSR.kx.get_furi()",
        "KSR.kx.get_srcport()",
        "KSR.kx.get_duri()",
        "KSR.pv.get('$fd')",
        "KSR.pv.get('$rp')",
    ],
    "hdr": [
        "KSR.hdr.append('X-Added: one\\r\\n')",
        "KSR.hdr.get('X-Added')",
        "KSR.hdr.is_present('X-Added')",
        "KSR.hdr.remove('X-Added')",
        "KSR.hdr.is_present('X-Added')",
        "KSR.hdr.remove('X-Added')",
    ],
}


def mod_init():
    return Probe()


class Probe:
    def __init__(self):
        self.port = None

    def ksr_request_route(self, msg):
        user = KSR.pv.gete("$rU")
        if user == "retrans":
            RESULTS.append(KSR.tm.t_check_trans())
            KSR.tm.t_reply(486, "Busy Here")
            return 1
        if user == "exit":
            KSR.sl.sl_send_reply(202, "Exiting")
            KSR.x.exit()
            RESULTS.append("after exit")
            return 1
        if user == "boom":
            raise RuntimeError("the script failed")
        port = str(KSR.pv.get("$Rp"))
        for expr in PROBES.get(user, []):
            value = eval(expr.replace("PORT", port))
            RESULTS.append((expr, value))
        KSR.sl.sl_send_reply(200, "Probed")
        return 1
