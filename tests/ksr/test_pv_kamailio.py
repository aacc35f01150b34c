"""KSR.pv as Kamailio 5.6's app_python3 has it, checked on a real Kamailio and on
``kamtool serve --route`` with one script (scripts/pv_kamailio.py): transformations,
indexes, $avp stacks, $xavp, $shv, the read-only variables, the From/To setters, and the
conventions (unknown names read as null and cannot be set; $var is 0 until set; setters
return True; $rp and $cs are strings)."""

from __future__ import annotations

import json
import re

import pytest

from tests.interop.wire import Peer
from tests.ksr.conftest import SCRIPTS, TARGETS
from tests.proxy.harness import wait_for
from tests.support.kemi import kemi_server
from tests.support.ports import low_free_port

_LINE = re.compile(r"PVTEST (\w+) (\d+) (.*)$", re.M)
HEADERS = [
    "X-A: VaL", "X-Multi: m1", "X-Multi: m2",
    'Refer-To: "Bob Two" <sip:r@x.example;user=phone>',
    "X-N: 12", "X-B64: aGVsbG8=", "X-List: a,b,c", "X-P: a=1;b=2;c", "X-Amp: x=1&y=2",
    "User-Agent: pvtest/1", "Content-Type: text/plain",
    'Proxy-Authorization: Digest username="1001", realm="127.0.0.1", nonce="abc",'
    ' uri="sip:x", response="0"',
]  # fmt: skip


def _groups() -> dict[str, list[str]]:
    """The expressions of the script, by group (read from its source: no KSR here)."""
    source = (SCRIPTS / "pv_kamailio.py").read_text()
    namespace: dict = {}
    exec(source.split("def mod_init")[0].replace("import KSR", ""), namespace)
    return namespace["GROUPS"]


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"pv-{request.param}")
    with kemi_server(request.param, base, SCRIPTS / "pv_kamailio.py",
                     sip_port=low_free_port()) as t:  # fmt: skip
        yield t


def _send(target, group: str, uas: Peer | None = None) -> None:
    port = target.sip_port
    with Peer("udp", port) as caller:
        headers = HEADERS + ([f"X-Next: sip:127.0.0.1:{uas.port}"] if uas else [])
        caller.send(
            caller.request(
                "MESSAGE",
                f"sip:{group}@127.0.0.1:{port};transport=udp",
                to=f'"Alice A" <sip:{group}@127.0.0.1:{port}>',
                headers=headers,
                body="hello world",
            )
        )
        if uas is not None:
            req = uas.recv()
            uas.reply_to(req, 200, "OK")
            target.forwarded = req
        assert caller.recv().status == 200


def probe(target, group: str, uas: Peer | None = None) -> dict[str, object]:
    """expression -> its value (``("EXC", name)`` for an exception) for ``group``; an
    expression run again: ``"<expr> #2"`` is its second value, ``#3`` the third ..."""
    exprs = _groups()[group]
    _send(target, group, uas)

    def found() -> dict[int, list]:
        return {int(n): json.loads(v) for g, n, v in _LINE.findall(target.log_text())
                if g == group}  # fmt: skip

    assert wait_for(lambda: len(found()) >= len(exprs), 5), target.log_text()[-2000:]
    got = found()
    out: dict[str, object] = {}
    for i, expr in enumerate(exprs):
        kind, value = got[i]
        seen = sum(1 for e in exprs[:i] if e == expr)
        key = f"{expr} #{seen + 1}" if seen else expr
        out[key] = ("EXC", value) if kind == "EXC" else value
        assert kind == "EXC" or kind == type(value).__name__ or value is None, (expr, kind)
    return out


def test_transformations(target):
    v = probe(target, "tr")
    port = target.sip_port
    assert v["KSR.pv.get('$(ru{uri.user})')"] == "tr"
    assert v["KSR.pv.get('$(ru{uri.host})')"] == "127.0.0.1"
    assert v["KSR.pv.get('$(fu{uri.domain})')"] == "127.0.0.1"
    assert v["KSR.pv.get('$(ru{uri.port})')"] == port  # an int
    assert v["KSR.pv.get('$(fu{uri.port})')"] == 0  # no port: 0
    assert v["KSR.pv.get('$(ru{uri.param,transport})')"] == "udp"
    assert v["KSR.pv.get('$(ru{uri.param,nope})')"] == ""
    assert v["KSR.pv.get('$(ru{uri.params})')"] == "transport=udp"
    assert v["KSR.pv.get('$(ru{uri.transport})')"] == "udp"
    assert v["KSR.pv.get('$(hdr(X-A){s.len})')"] == 3
    assert v["KSR.pv.get('$(hdr(X-A){s.tolower})')"] == "val"
    assert v["KSR.pv.get('$(hdr(X-A){s.toupper})')"] == "VAL"
    assert v["KSR.pv.get('$(rU{s.substr,0,2})')"] == "tr"
    assert v["KSR.pv.get('$(rU{s.substr,1,0})')"] == "r"  # length 0: to the end
    assert v["KSR.pv.get('$(rU{s.substr,-2,0})')"] == "tr"
    assert v["KSR.pv.get('$(rU{s.substr,9,1})')"] is None  # out of range: null
    assert v["KSR.pv.get('$(hdr(X-A){s.md5})')"] == "500accfb3a96d15e2153d1747c83aa7b"
    assert v["KSR.pv.get('$(hdr(X-A){s.sha256})')"] == (
        "86f2ec63d48e323b2f59c97881c2c8a9e7b2db076ba7ab557eade6d7d91fecec"
    )
    assert v["KSR.pv.get('$(hdr(X-N){s.int})')"] == 12
    assert v["KSR.pv.get('$(hdr(X-A){s.int})')"] is None
    assert v["KSR.pv.get('$(hdr(X-List){s.select,1,,})')"] == "b"
    assert v["KSR.pv.get('$(hdr(X-List){s.select,-1,,})')"] == "c"
    assert v["KSR.pv.get('$(hdr(X-List){s.select,5,,})')"] == ""
    assert v["KSR.pv.get('$(hdr(X-A){s.strip,1})')"] == "aL"
    assert v["KSR.pv.get('$(hdr(X-A){s.striptail,1})')"] == "Va"
    assert v["KSR.pv.get('$(hdr(X-A){s.encode.base64})')"] == "VmFM"
    assert v["KSR.pv.get('$(hdr(X-B64){s.decode.base64})')"] == "hello"
    assert v["KSR.pv.get('$(hdr(Refer-To){nameaddr.uri})')"] == "sip:r@x.example;user=phone"
    assert v["KSR.pv.get('$(hdr(Refer-To){nameaddr.name})')"] == '"Bob Two" '  # as written
    assert v["KSR.pv.get('$(hdr(Refer-To){nameaddr.uri}{uri.user})')"] == "r"  # chained
    assert v["KSR.pv.get('$(hdr(To){tobody.uri})')"] == f"sip:tr@127.0.0.1:{port}"
    assert v["KSR.pv.get('$(hdr(To){tobody.user})')"] == "tr"
    assert v["KSR.pv.get('$(hdr(To){tobody.host})')"] == "127.0.0.1"
    assert v["KSR.pv.get('$(hdr(To){tobody.display})')"] == '"Alice A"'
    assert v["KSR.pv.get('$(hdr(X-P){param.value,b})')"] == "2"
    assert v["KSR.pv.get('$(hdr(X-P){param.value,c})')"] == ""
    assert v["KSR.pv.get('$(hdr(X-P){param.value,z})')"] == ""
    assert v["KSR.pv.get('$(hdr(X-Amp){param.value,y,&})')"] == "2"
    assert v["KSR.pv.get('$(hdr(X-Nope){s.len})')"] is None  # null stays null
    assert v["KSR.pv.get('$(hdr(X-A){s.len}{s.int})')"] == 3
    assert v["KSR.pv.get('$(hdr(X-A){s.bogus})')"] is None  # unknown: null, logged
    assert v["KSR.pv.get('$(hdr(X-A){uri.user})')"] is None  # not a URI


def test_indexes_and_avp_stacks(target):
    v = probe(target, "idx")
    assert v["KSR.pv.get('$hdr(X-Multi)')"] == "m1"
    assert v["KSR.pv.get('$(hdr(X-Multi)[1])')"] == "m2"
    assert v["KSR.pv.get('$(hdr(X-Multi)[2])')"] is None
    assert v["KSR.pv.get('$(hdr(X-Multi)[-1])')"] == "m2"
    assert v["KSR.pv.get('$(hdr(X-Multi)[-2])')"] == "m1"
    assert v["KSR.pv.get('$(hdr(X-Multi)[*])')"] == "m1,m2"
    assert v["KSR.pv.get('$hdrc(X-Multi)')"] == 2 and v["KSR.pv.get('$hdrc(X-Nope)')"] == 0
    assert v["KSR.pv.seti('$avp(a)', 1)"] is True
    assert v["KSR.pv.get('$avp(a)')"] == "three"  # the newest
    assert v["KSR.pv.get('$(avp(a)[1])')"] == 2 and v["KSR.pv.get('$(avp(a)[2])')"] == 1
    assert v["KSR.pv.get('$(avp(a)[*])')"] == "three, 2, 1"
    assert v["KSR.pv.unset('$avp(a)')"] is True
    assert v["KSR.pv.get('$avp(a)') #2"] == 2  # unset removed the newest value only
    assert v["KSR.pv.get('$avp(b)')"] == "x" and v["KSR.pv.get('$avp(s:b)')"] == "x"
    assert v["KSR.pv.get('$(hdr(X-Multi)[$var(i)])')"] == "m2"


def test_unset_of_every_avp_value(target):
    exprs = _groups()["idx"]
    log = [json.loads(x) for g, _n, x in _LINE.findall(target.log_text()) if g == "idx"]
    if not log:  # (this test alone)
        probe(target, "idx")
        log = [json.loads(x) for g, _n, x in _LINE.findall(target.log_text()) if g == "idx"]
    after = exprs.index("KSR.pv.unset('$(avp(a)[*])')")
    assert log[after] == ["bool", True] and log[after + 1] == ["NoneType", None]


def test_conventions(target):
    v = probe(target, "conv")
    assert v["KSR.pv.get('$var(none)')"] == 0 and v["KSR.pv.is_null('$var(none)')"] is False
    assert v["KSR.pv.unset('$var(i)')"] is True and v["KSR.pv.get('$var(i)')"] == 0
    assert v["KSR.pv.is_null('$var(i)')"] is False
    assert v["KSR.pv.getw('$avp(none)')"] == "<null>"
    assert v["KSR.pv.geti('$avp(none)')"] == 0 and v["KSR.pv.geti('$ru')"] == 0
    assert v["KSR.pv.geti('$sp') > 0"] is True
    assert v["KSR.pv.geti('$rp') == KSR.pv.get('$Rp')"] is True
    assert v["KSR.pv.get('$rp') == str(KSR.pv.get('$Rp'))"] is True  # $rp is a string
    assert v["KSR.pv.get('$cs')"] == "1"
    assert v["KSR.pv.get('$T_reply_code')"] == 0
    for name in ("$bogus", "bogus", "$hdr(X-A"):
        assert v[f"KSR.pv.get('{name}')"] is None
    assert v["KSR.pv.get('$(bogus{s.len})')"] is None
    assert v["KSR.pv.sets('$bogus', 'x')"] is False
    assert v["KSR.pv.seti('$var(x)', 1)"] is True
    # read-only ones: nothing changes, and the setter says True
    assert v["KSR.pv.sets('$ua', 'x')"] is True and v["KSR.pv.get('$ua')"] == "pvtest/1"
    assert v["KSR.pv.sets('$si', '10.1.1.1')"] is True
    assert v["KSR.pv.get('$si')"] == "127.0.0.1"


def test_read_only_variables(target):
    v = probe(target, "ro")
    assert v["KSR.pv.get('$cl')"] == 11 and v["KSR.pv.get('$bs')"] == 11
    assert v["KSR.pv.get('$cT')"] == "text/plain"
    assert v["KSR.pv.get('$ou') == KSR.pv.get('$ru')"] is True
    assert v["KSR.pv.get('$od')"] == "127.0.0.1" and v["KSR.pv.get('$rv')"] == "SIP/2.0"
    assert v["KSR.pv.get('$tn')"] == '"Alice A"' and v["KSR.pv.get('$fn')"] is None
    for name in ("$di", "$re", "$ai", "$pU", "$pd"):
        assert v[f"KSR.pv.get('{name}')"] is None
    assert v["KSR.pv.get('$rt')"] == "sip:r@x.example;user=phone"
    assert v["KSR.pv.get('$adu')"] == "sip:x"
    assert [v[f"KSR.pv.get('{n}')"] for n in ("$bf", "$sf")] == [0, 0]
    assert v["KSR.pv.get('$mf')"] == 0 and v["KSR.pv.get('$mf') #2"] == 8  # setflag(3)
    assert v["type(KSR.pv.get('$mi')).__name__"] == "int"
    assert v["type(KSR.pv.get('$Ts')).__name__"] == "int"
    assert v["type(KSR.pv.get('$pp')).__name__"] == "int"
    assert v["KSR.pv.get('$ml') > 100"] is True
    assert v["KSR.pv.get('$TS') <= KSR.pv.get('$Ts')"] is True
    assert v["KSR.pv.get('$dd')"] is None  # no $du yet
    assert v["KSR.pv.get('$dd') #2"] == "10.0.0.7" and v["KSR.pv.get('$dp')"] == "5099"
    assert v["KSR.pv.get('$oU') #2"] == "ro" and v["KSR.pv.get('$rU')"] == "changed"


def test_xavp_and_shv(target):
    v = probe(target, "store")
    assert v["KSR.pv.get('$xavp(none)')"] is None
    assert v["KSR.pv.get('$xavp(none=>a)')"] is None
    assert v["KSR.pv.sets('$xavp(x=>a)', 'va')"] is True
    assert v["KSR.pv.get('$xavp(x=>b)')"] == 3
    assert v["KSR.pv.get('$xavp(x[0]=>a)')"] == "va"
    assert v["KSR.pv.get('$xavp(x=>a)') #2"] == "second"  # a new item, the first now
    assert v["KSR.pv.get('$xavp(x[1]=>a)')"] == "va"
    assert v["KSR.pv.get('$xavp(x[-1]=>b)')"] == 3
    assert v["KSR.pv.get('$(xavp(x[0]=>a)[*])')"] is None
    assert v["KSR.pv.unset('$xavp(x)')"] is True  # the newest item only
    assert v["KSR.pv.get('$xavp(x=>a)') #3"] == "va"  # "second"'s item went
    assert v["KSR.pv.get('$xavp(x=>b)') #2"] is None  # unset x[0]=>b
    assert v["KSR.pv.get('$xavp(x=>a)') #4"] == "va"
    assert v["KSR.pv.get('$xavp(y)')"] == "plain"
    assert v["KSR.pv.get('$shv(pvtest_none)')"] == 0
    assert v["KSR.pv.get('$shv(pvtest_n)') >= 1"] is True
    assert v["KSR.pv.get('$shv(pvtest_s)')"] == "z"


def test_from_and_to_setters_rewrite_the_headers(target):
    with Peer("udp", target.sip_port) as uas:
        v = probe(target, "wire", uas)
    assert all(value is True for value in v.values())
    req = target.forwarded
    assert req.get("from").startswith("Disp <sip:changed@127.0.0.1>;tag=")
    assert req.get("to") == f"Tdisp <sip:tchanged@127.0.0.1:{target.sip_port}>"
    assert req.get("user-agent") == "pvtest/1"  # $ua cannot be set
