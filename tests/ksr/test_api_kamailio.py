"""KSR functions real scripts call first — ``KSR.xlog``, the core transport/flag tests,
``KSR.hdr``'s getters and placement, ``KSR.textops``, ``KSR.htable`` with operator-declared
tables — evaluated by one probe script (scripts/api_probe.py) on a real Kamailio 5.6 and
on ``kamtool serve --route``: both must give what Kamailio 5.6.3 gave
(api_expected.json), and make the same edits on the wire."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.interop.wire import Peer
from tests.ksr.api_probe import api_server, probe
from tests.ksr.conftest import TARGETS
from tests.proxy.harness import wait_for

EXPECTED = json.loads((Path(__file__).with_name("api_expected.json")).read_text())


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"api-{request.param}")
    with api_server(request.param, base) as t:
        t.out_dir = base  # type: ignore[attr-defined]
        yield t


@pytest.mark.parametrize(
    "group", ["xlog", "core", "hdr", "textops", "htable", "siputils", "registrar", "dialog",
              "permissions", "state"]
)
def test_results_are_kamailios(target, group):
    """Every expression of the group returns what Kamailio 5.6.3 returned (same type)."""
    got, final, _ = probe(target, target.out_dir, group)
    assert (final.status, final.reason) == (200, "Probed")
    want = [tuple(pair) for pair in EXPECTED[group]]
    assert [g for g in got if g not in want] == [], "differs from Kamailio"
    assert got == want


def test_xlog_writes_the_variables_values(target):
    """The log lines xlog wrote, with the pseudo-variables replaced ($$ is one $); the
    ones of a format with a lone $ and of xdbg at the default level are not there."""
    probe(target, target.out_dir, "xlog")
    wanted = ["XLOGTEST info MESSAGE 1001 ru=sip:xlog@127.0.0.1:",
              "XLOGTEST err xlog [val] [<null>] [<null>]", "XLOGTEST twodollars $ end",
              "XLOGTEST warn val ib-", "XLOGTEST notice 127.0.0.1:",
              "XLOGTEST level MESSAGE", "XLOGTEST lower", "XLOGTEST bogus level",
              "XLOGTEST crit", "XLOGTEST alert"]  # fmt: skip
    assert wait_for(lambda: all(w in target.log_text() for w in wanted), 5), [
        w for w in wanted if w not in target.log_text()
    ]
    log = target.log_text()
    assert ": XLOGTEST trailing" not in log and ": XLOGTEST spaced" not in log
    assert ": XLOGTEST unknown" not in log
    assert ": XLOGTEST dbg" not in log


def _relayed(target, group):
    with Peer("udp", target.sip_port) as relay:
        results, final, got = probe(target, target.out_dir, group, relay=relay)
    assert final.status == 200 and got is not None
    return results, got


def test_hdr_places_headers_as_kamailio(target):
    results, got = _relayed(target, "hdrwire")
    assert [v for _, v in results] == ["1", "1", "1", "1"]
    # (Kamailio puts an inserted line even above its own Via, kamtool below the Vias)
    names = [n for n, _ in got.headers if n != "via"]
    assert names[0] == "x-first" and "x-b" not in names
    assert names.index("x-before") + 1 == names.index("x-a") == names.index("x-after") - 1
    assert names[-1] == "x-never" or names[-2:] == ["x-never", "content-length"]


def test_textops_edits_reach_the_wire(target):
    results, got = _relayed(target, "textwire")
    assert [v for _, v in results] == ["1", "1", "-1", "1", "1", "1", "1", "1", "1", "1", "-1"]
    assert got.first.startswith("MESSAGE sip:substd@127.0.0.1:")
    assert got.all("x-e") == ["new"] and got.all("x-f") == ["two"]
    assert got.all("x-multi") == ["mm", "mm"] and got.all("x-a") == ["VaL"]
    assert got.all("x-d") == ["d;app"] and got.all("x-g1") == []
    assert got.all("x-b") == [] and got.all("x-c") == ["c"]  # X-C: kept by the skip regex
    assert got.body == b"bye world" and got.get("content-length") == "9"


def test_set_body_and_replace_body(target):
    results, got = _relayed(target, "setbody")
    assert results[0][1] == "1"
    assert got.body == b"newbody" and got.all("content-type") == ["text/x-new"]
    results, got = _relayed(target, "replbody")
    assert [v for _, v in results] == ["1", "1"] and got.body == b"heLL0 worLd"


def test_declared_tables_are_listed_by_rpc(target):
    """The tables the cfg (Kamailio) or [proxy] htables (kamtool) declare: htable RPCs."""
    names = {t["name"] for t in target.rpc("htable.listTables")}
    assert {"cache", "counters", "ipban"} <= names
    target.rpc("htable.seti", "counters", "rpc", 7)
    assert target.rpc("htable.get", "counters", "rpc")["item"]["value"] == 7


def test_siputils_rewrites_the_request_uri(target):
    """add_uri_param, uri_param_rm (after $ru got ;lr): what the relayed R-URI is."""
    results, got = _relayed(target, "siputilswire")
    assert results == [tuple(p) for p in EXPECTED["siputilswire"]]
    assert got.first.split(" ")[1].endswith(";transport=udp;added=1")


def test_uac_replace_without_restoring(target):
    """uac restore_mode "none": the relayed request has the new From/To; $fu reads the
    received From (uac's edits apply as the request leaves)."""
    results, got = _relayed(target, "uacwire")
    assert results == [tuple(p) for p in EXPECTED["uacwire"]]
    assert got.get("from") == "Alice <sip:alice@example.com>;tag=ib1"
    assert got.get("to") == "<sip:bob@example.com>"


def test_htable_iterators(target):
    """sht_iterator_*: every item once, values set through the iterator, items removed
    with htable's documented inner loop (rm moves on: 1, or -2 after the last item), the
    codes for unknown iterators and tables, $shtitkey null before the first next."""
    got, final, _ = probe(target, target.out_dir, "htiter")
    assert final.status == 200
    results = dict(got)
    assert results["KSR.pv.get('$shtitkey(i1)')"] == "None"
    assert results["sorted(k for k in ('a1', 'a2', 'b1', 'b2', 'c1') if "
                   "KSR.htable.sht_get('cache', k))"] == "['a1', 'a2', 'c1']"  # fmt: skip
    assert results["KSR.htable.sht_get('cache', 'a1')"] == "'VA1'"
    codes = [v for e, v in got if e.startswith("KSR.htable.sht_iterator_") or "lock" in e]
    walked, after_end = results["walk('i1', 'b')"], results["KSR.htable.sht_iterator_next('i1')"]
    if target.name == "kamailio":
        # Kamailio 5.6.3's bug: after rm() removed the last item (-2), next() starts over
        # from the first slot, so the loop sees a1, a2 and c1 twice; kamtool stays at the end
        assert walked == "(['a1', 'a1', 'a2', 'a2', 'b1', 'b2', 'c1', 'c1'], [-2, 1])"
        assert after_end == "1"
    else:
        assert walked == "(['a1', 'a2', 'b1', 'b2', 'c1'], [-2, 1])"
        assert after_end == "-1"
    assert codes == ["1", after_end, "1", "-1", "-1", "-1", "-1", "-1", "1", "-1", "1", "1",
                     "1"]  # fmt: skip
