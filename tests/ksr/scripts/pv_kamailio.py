"""A KEMI route script in app_python3's style (written for kamtool's tests) that reads and
sets pseudo-variables and logs each result as ``PVTEST <group> <n> <json>``, for the same
run on Kamailio 5.6 and on kamtool (tests/ksr/test_pv_kamailio.py). The R-URI user picks
the group; group ``wire`` relays the request (after From/To edits) to ``X-Next``."""

import json

import KSR

GROUPS = {
    "tr": [
        "KSR.pv.get('$(ru{uri.user})')",
        "KSR.pv.get('$(ru{uri.host})')",
        "KSR.pv.get('$(fu{uri.domain})')",
        "KSR.pv.get('$(ru{uri.port})')",
        "KSR.pv.get('$(fu{uri.port})')",
        "KSR.pv.get('$(ru{uri.param,transport})')",
        "KSR.pv.get('$(ru{uri.param,nope})')",
        "KSR.pv.get('$(ru{uri.params})')",
        "KSR.pv.get('$(ru{uri.transport})')",
        "KSR.pv.get('$(hdr(X-A){s.len})')",
        "KSR.pv.get('$(hdr(X-A){s.tolower})')",
        "KSR.pv.get('$(hdr(X-A){s.toupper})')",
        "KSR.pv.get('$(rU{s.substr,0,2})')",
        "KSR.pv.get('$(rU{s.substr,1,0})')",
        "KSR.pv.get('$(rU{s.substr,-2,0})')",
        "KSR.pv.get('$(rU{s.substr,9,1})')",
        "KSR.pv.get('$(hdr(X-A){s.md5})')",
        "KSR.pv.get('$(hdr(X-A){s.sha256})')",
        "KSR.pv.get('$(hdr(X-N){s.int})')",
        "KSR.pv.get('$(hdr(X-A){s.int})')",
        "KSR.pv.get('$(hdr(X-List){s.select,1,,})')",
        "KSR.pv.get('$(hdr(X-List){s.select,-1,,})')",
        "KSR.pv.get('$(hdr(X-List){s.select,5,,})')",
        "KSR.pv.get('$(hdr(X-A){s.strip,1})')",
        "KSR.pv.get('$(hdr(X-A){s.striptail,1})')",
        "KSR.pv.get('$(hdr(X-A){s.encode.base64})')",
        "KSR.pv.get('$(hdr(X-B64){s.decode.base64})')",
        "KSR.pv.get('$(hdr(Refer-To){nameaddr.uri})')",
        "KSR.pv.get('$(hdr(Refer-To){nameaddr.name})')",
        "KSR.pv.get('$(hdr(Refer-To){nameaddr.uri}{uri.user})')",
        "KSR.pv.get('$(hdr(To){tobody.uri})')",
        "KSR.pv.get('$(hdr(To){tobody.user})')",
        "KSR.pv.get('$(hdr(To){tobody.host})')",
        "KSR.pv.get('$(hdr(To){tobody.display})')",
        "KSR.pv.get('$(hdr(X-P){param.value,b})')",
        "KSR.pv.get('$(hdr(X-P){param.value,c})')",
        "KSR.pv.get('$(hdr(X-P){param.value,z})')",
        "KSR.pv.get('$(hdr(X-Amp){param.value,y,&})')",
        "KSR.pv.get('$(hdr(X-Nope){s.len})')",
        "KSR.pv.get('$(hdr(X-A){s.len}{s.int})')",
        "KSR.pv.get('$(hdr(X-A){s.bogus})')",
        "KSR.pv.get('$(hdr(X-A){uri.user})')",
    ],
    "idx": [
        "KSR.pv.get('$hdr(X-Multi)')",
        "KSR.pv.get('$(hdr(X-Multi)[0])')",
        "KSR.pv.get('$(hdr(X-Multi)[1])')",
        "KSR.pv.get('$(hdr(X-Multi)[2])')",
        "KSR.pv.get('$(hdr(X-Multi)[-1])')",
        "KSR.pv.get('$(hdr(X-Multi)[-2])')",
        "KSR.pv.get('$(hdr(X-Multi)[*])')",
        "KSR.pv.get('$hdrc(X-Multi)')",
        "KSR.pv.get('$hdrc(X-Nope)')",
        "KSR.pv.seti('$avp(a)', 1)",
        "KSR.pv.seti('$avp(a)', 2)",
        "KSR.pv.sets('$avp(a)', 'three')",
        "KSR.pv.get('$avp(a)')",
        "KSR.pv.get('$(avp(a)[1])')",
        "KSR.pv.get('$(avp(a)[2])')",
        "KSR.pv.get('$(avp(a)[*])')",
        "KSR.pv.unset('$avp(a)')",
        "KSR.pv.get('$avp(a)')",
        "KSR.pv.sets('$avp(s:b)', 'x')",
        "KSR.pv.get('$avp(b)')",
        "KSR.pv.get('$avp(s:b)')",
        "KSR.pv.unset('$(avp(a)[*])')",
        "KSR.pv.get('$avp(a)')",
        "KSR.pv.seti('$var(i)', 1)",
        "KSR.pv.get('$(hdr(X-Multi)[$var(i)])')",
    ],
    "conv": [
        "KSR.pv.get('$var(none)')",
        "KSR.pv.is_null('$var(none)')",
        "KSR.pv.seti('$var(i)', 5)",
        "KSR.pv.unset('$var(i)')",
        "KSR.pv.get('$var(i)')",
        "KSR.pv.is_null('$var(i)')",
        "KSR.pv.getw('$avp(none)')",
        "KSR.pv.geti('$avp(none)')",
        "KSR.pv.geti('$sp') > 0",
        "KSR.pv.geti('$ru')",
        "KSR.pv.geti('$rp') == KSR.pv.get('$Rp')",
        "KSR.pv.get('$rp') == str(KSR.pv.get('$Rp'))",
        "KSR.pv.get('$cs')",
        "KSR.pv.get('$T_reply_code')",
        "KSR.pv.get('$bogus')",
        "KSR.pv.get('bogus')",
        "KSR.pv.get('$hdr(X-A')",
        "KSR.pv.sets('$bogus', 'x')",
        "KSR.pv.seti('$var(x)', 1)",
        "KSR.pv.sets('$ua', 'x')",
        "KSR.pv.get('$ua')",
        "KSR.pv.sets('$si', '10.1.1.1')",
        "KSR.pv.get('$si')",
        "KSR.pv.get('$(bogus{s.len})')",
    ],
    "ro": [
        "KSR.pv.get('$cl')",
        "KSR.pv.get('$cT')",
        "KSR.pv.get('$bs')",
        "KSR.pv.get('$ou') == KSR.pv.get('$ru')",
        "KSR.pv.get('$oU')",
        "KSR.pv.get('$od')",
        "KSR.pv.get('$rv')",
        "KSR.pv.get('$tn')",
        "KSR.pv.get('$fn')",
        "KSR.pv.get('$di')",
        "KSR.pv.get('$re')",
        "KSR.pv.get('$rt')",
        "KSR.pv.get('$ai')",
        "KSR.pv.get('$pU')",
        "KSR.pv.get('$pd')",
        "KSR.pv.get('$adu')",
        "KSR.pv.get('$mf')",
        "KSR.pv.get('$bf')",
        "KSR.pv.get('$sf')",
        "KSR.setflag(3)",
        "KSR.pv.get('$mf')",
        "type(KSR.pv.get('$mi')).__name__",
        "KSR.pv.get('$ml') > 100",
        "type(KSR.pv.get('$Ts')).__name__",
        "KSR.pv.get('$TS') <= KSR.pv.get('$Ts')",
        "type(KSR.pv.get('$pp')).__name__",
        "KSR.pv.get('$dd')",
        "KSR.pv.sets('$du', 'sip:10.0.0.7:5099;transport=tcp')",
        "KSR.pv.get('$dd')",
        "KSR.pv.get('$dp')",
        "KSR.pv.sets('$rU', 'changed')",
        "KSR.pv.get('$oU')",
        "KSR.pv.get('$rU')",
    ],
    "store": [
        "KSR.pv.get('$xavp(none)')",
        "KSR.pv.get('$xavp(none=>a)')",
        "KSR.pv.sets('$xavp(x=>a)', 'va')",
        "KSR.pv.seti('$xavp(x[0]=>b)', 3)",
        "KSR.pv.get('$xavp(x=>a)')",
        "KSR.pv.get('$xavp(x=>b)')",
        "KSR.pv.get('$xavp(x[0]=>a)')",
        "KSR.pv.sets('$xavp(x=>a)', 'second')",
        "KSR.pv.get('$xavp(x=>a)')",
        "KSR.pv.get('$xavp(x[1]=>a)')",
        "KSR.pv.get('$xavp(x[-1]=>b)')",
        "KSR.pv.sets('$xavp(x[0]=>a)', 'more')",
        "KSR.pv.get('$(xavp(x[0]=>a)[*])')",
        "KSR.pv.unset('$xavp(x)')",
        "KSR.pv.get('$xavp(x=>a)')",
        "KSR.pv.unset('$xavp(x[0]=>b)')",
        "KSR.pv.get('$xavp(x=>b)')",
        "KSR.pv.get('$xavp(x=>a)')",
        "KSR.pv.sets('$xavp(y)', 'plain')",
        "KSR.pv.get('$xavp(y)')",
        "KSR.pv.get('$shv(pvtest_none)')",
        "KSR.pv.seti('$shv(pvtest_n)', KSR.pv.geti('$shv(pvtest_n)') + 1)",
        "KSR.pv.get('$shv(pvtest_n)') >= 1",
        "KSR.pv.sets('$shv(pvtest_s)', 'z')",
        "KSR.pv.get('$shv(pvtest_s)')",
    ],
    "wire": [
        "KSR.pv.sets('$fU', 'changed')",
        "KSR.pv.sets('$fn', 'Disp')",
        "KSR.pv.sets('$tU', 'tchanged')",
        "KSR.pv.sets('$tn', 'Tdisp')",
        "KSR.pv.sets('$ua', 'ignored')",
    ],
}


def mod_init():
    return Probe()


class Probe:
    def child_init(self, rank):  # app_python3 refuses to start without it
        return 0

    def ksr_reply_route(self, msg):  # (Kamailio 5.6 breaks without one, see the cfg)
        return 1

    def ksr_request_route(self, msg):
        if KSR.is_ACK() or KSR.is_CANCEL():
            return 1
        group = KSR.pv.get("$rU") or ""
        for n, expr in enumerate(GROUPS.get(group, [])):
            try:
                value = eval(expr)
                out = [type(value).__name__, value]
            except Exception as exc:  # (the test shows which)
                out = ["EXC", type(exc).__name__]
            KSR.info(f"PVTEST {group} {n} {json.dumps(out)}\n")
        if group == "wire":
            KSR.pv.sets("$du", KSR.pv.get("$hdr(X-Next)"))
            KSR.tm.t_relay()
            return 1
        KSR.sl.sl_send_reply(200, "Probed")
        return 1
