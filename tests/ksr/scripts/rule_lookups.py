# A route written for kamtool's tests of KSR.dialplan and KSR.mtree (app_python3s style).
# Every request but ACK is answered 200 with the outcome in the reason phrase. The
# header X-Op says what to do with the R-URI user ($rU):
#   "translate DPID"  KSR.dialplan.dp_translate(DPID, "$rU/$rU"), then reports $rU
#   "replace DPID"    KSR.dialplan.dp_replace(DPID, $rU, "$var(out)"), reports $var(out)
#   "translatepre DPID PRE"  $var(pre) = PRE ("-": empty), then as "translate DPID"
#   "match DPID"      KSR.dialplan.dp_match(DPID, $rU)
#   "mtree TNAME MODE" KSR.mtree.mt_match(TNAME, $rU, MODE), reports $avp(s:tvalue)
#   "lcr ID"          KSR.lcr.load_gws(ID), then next_gw() until it fails: reports each
#                     "$ru>$du" (space-separated); "lcr ID defunct" takes the first one
#                     out of service (defunct_gw) after it
#   "fromgw ID" / "togw ID"  KSR.lcr.from_gw(ID) / to_gw(ID)
#   "fromany" / "toany"      KSR.lcr.from_any_gw() / to_any_gw()
#   "lcrtag ID"       load_gws(ID) and one next_gw(); reports "$avp(lcr_tag)/$avp(lcr_flags)"
#   "fromgwtag ID"    from_gw(ID); reports the same
# The matching dialplan rule's attrs are in $var(dpattrs) ([proxy] dp_attrs_pvar).
# The header X-Probe ("sd" or "avp") gets the answers of tests/support/
# kamailio-provisioning.cfg's probes instead: sd_lookup and avp_db_load.
import KSR


def probe(kind):
    if kind == "sd":
        if KSR.speeddial.sd_lookup("speed_dial") > 0:
            KSR.sl.sl_send_reply(200, KSR.pv.gete("$ru"))
        else:
            KSR.sl.sl_send_reply(404, "No speed dial")
    elif kind == "avp":
        if KSR.avpops.avp_db_load("$fu", "$avp(s:callfwd)") > 0:
            KSR.sl.sl_send_reply(200, KSR.pv.gete("$avp(s:callfwd)"))
        else:
            KSR.sl.sl_send_reply(404, "No preference")
    else:
        KSR.sl.sl_send_reply(400, "Unknown probe")


def ksr_request_route():
    if KSR.is_ACK():
        return 1
    if KSR.pv.get("$hdr(X-Probe)"):
        probe(KSR.pv.gete("$hdr(X-Probe)"))
        return 1
    op = (KSR.pv.gete("$hdr(X-Op)") or "").split()
    user = KSR.pv.gete("$rU")
    KSR.pv.sets("$var(dpattrs)", "-")
    KSR.pv.sets("$var(out)", "-")
    if op[:1] == ["translatepre"]:
        KSR.pv.sets("$var(pre)", "" if op[2] == "-" else op[2])
        op = op[:2]
        op[0] = "translate"
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
    elif op[:1] == ["lcr"]:
        rc = KSR.lcr.load_gws(int(op[1]))
        hops = []
        while rc == 1 and KSR.lcr.next_gw() > 0:
            hops.append(KSR.pv.gete("$ru") + ">" + (KSR.pv.get("$du") or "null"))
            if op[2:] == ["defunct"]:
                KSR.lcr.defunct_gw(600)
                break
        out = " ".join(hops)
    elif op[:1] in (["lcrtag"], ["fromgwtag"]):
        KSR.pv.unset("$avp(lcr_tag)")
        KSR.pv.unset("$avp(lcr_flags)")
        if op[0] == "lcrtag":
            rc = KSR.lcr.load_gws(int(op[1]))
            rc = KSR.lcr.next_gw() if rc == 1 else rc
        else:
            rc = KSR.lcr.from_gw(int(op[1]))
        out = f"{KSR.pv.get('$avp(lcr_tag)')}/{KSR.pv.get('$avp(lcr_flags)')}"
    elif op[:1] in (["fromany"], ["toany"]):
        rc = KSR.lcr.from_any_gw() if op[0] == "fromany" else KSR.lcr.to_any_gw()
        out = user
    elif op[:1] in (["fromgw"], ["togw"]):
        test = KSR.lcr.from_gw if op[0] == "fromgw" else KSR.lcr.to_gw
        rc = test(int(op[1]))
        out = user
    else:
        KSR.sl.sl_send_reply(400, "No X-Op")
        return 1
    attrs = KSR.pv.gete("$var(dpattrs)")
    KSR.sl.sl_send_reply(200, f"rc={rc} out={out} attrs={attrs}")
    return 1
