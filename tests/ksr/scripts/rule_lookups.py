# A route written for kamtool's tests of KSR.dialplan and KSR.mtree (app_python3s style).
# Every request but ACK is answered 200 with the outcome in the reason phrase. The
# header X-Op says what to do with the R-URI user ($rU):
#   "translate DPID"  KSR.dialplan.dp_translate(DPID, "$rU/$rU"), then reports $rU
#   "replace DPID"    KSR.dialplan.dp_replace(DPID, $rU, "$var(out)"), reports $var(out)
#   "match DPID"      KSR.dialplan.dp_match(DPID, $rU)
#   "mtree TNAME MODE" KSR.mtree.mt_match(TNAME, $rU, MODE), reports $avp(s:tvalue)
# The matching dialplan rule's attrs are in $var(dpattrs) ([proxy] dp_attrs_pvar).
import KSR


def ksr_request_route():
    if KSR.is_ACK():
        return 1
    op = (KSR.pv.gete("$hdr(X-Op)") or "").split()
    user = KSR.pv.gete("$rU")
    KSR.pv.sets("$var(dpattrs)", "-")
    KSR.pv.sets("$var(out)", "-")
    if op[:1] == ["translate"]:
        rc = KSR.dialplan.dp_translate(int(op[1]), "$rU/$rU")
        out = KSR.pv.gete("$rU")
    elif op[:1] == ["replace"]:
        rc = KSR.dialplan.dp_replace(int(op[1]), user, "$var(out)")
        out = KSR.pv.gete("$var(out)")
    elif op[:1] == ["match"]:
        rc = KSR.dialplan.dp_match(int(op[1]), user)
        out = user
    elif op[:1] == ["mtree"]:
        KSR.pv.unset("$avp(s:tvalue)")
        rc = KSR.mtree.mt_match(op[1], user, int(op[2]))
        out = KSR.pv.gete("$avp(s:tvalue)")
    else:
        KSR.sl.sl_send_reply(400, "No X-Op")
        return 1
    attrs = KSR.pv.gete("$var(dpattrs)")
    KSR.sl.sl_send_reply(200, f"rc={rc} out={out} attrs={attrs}")
    return 1
