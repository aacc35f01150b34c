"""lcr: the gateway selection engine (Kamailio's load_gws order) and `kamtool lcr` on each
engine (Kamailio's own selections for the same rows: test_modules_kamailio.py)."""

from __future__ import annotations

import pytest

from kamtool.core.lcr_engine import Gateway, Lcr, LcrError, LcrRule
from tests.provisioning.conftest import rows
from tests.support.cli import invoke


def engine(*rules: LcrRule, gws: int = 4, defunct: dict[int, int] | None = None) -> Lcr:
    gateways = [
        Gateway(id=i, lcr_id=1, ip_addr=f"10.0.0.{i}", defunct=(defunct or {}).get(i))
        for i in range(1, gws + 1)
    ]
    return Lcr(gateways, rules)


def ids(lcr: Lcr, user: str, from_uri: str = "", ruri: str = "", **kw) -> list[int]:
    return [s.gateway.id for s in lcr.select(1, user, from_uri, ruri, **kw)]


def test_longer_prefix_then_priority_then_weight():
    lcr = engine(
        LcrRule(1, 1, "49", targets=[(1, 1, 1), (2, 0, 1)]),
        LcrRule(2, 1, "4930", targets=[(3, 5, 1), (1, 9, 1)]),
        LcrRule(3, 1, "", targets=[(4, 0, 1)]),
    )
    # 4930 first (3 then 1), then 49's 2 (1 ranks better under 4930 already), then ''
    assert ids(lcr, "493012") == [3, 1, 2, 4]
    assert ids(lcr, "4912") == [2, 1, 4]
    assert ids(lcr, "1") == [4]
    assert engine().select(1, "49") == []


def test_weights_share_a_priority_by_chance():
    lcr = engine(LcrRule(1, 1, "", targets=[(1, 1, 1), (2, 1, 3)]))
    draws = iter([100, 100])
    assert ids(lcr, "5", rng=lambda: next(draws)) == [2, 1]  # 3x100 beats 1x100
    draws = iter([400, 100])
    assert ids(lcr, "5", rng=lambda: next(draws)) == [1, 2]
    firsts = [ids(lcr, "5")[0] for _ in range(400)]
    assert 200 < firsts.count(2) < 400  # weight 3 against 1: about 5/6 of the time


def test_patterns_stopper_defunct_and_mtree():
    lcr = engine(
        LcrRule(1, 1, "1", from_uri="^sip:100[0-9]@", targets=[(1, 1, 1)]),
        LcrRule(2, 1, "1", request_uri=";user=phone", targets=[(2, 1, 1)]),
        LcrRule(3, 1, "12", stopper=1, mt_tvalue="gold", targets=[(3, 1, 1)]),
        LcrRule(4, 1, "", targets=[(4, 1, 1)]),
        defunct={4: 2000},
    )
    assert sorted(ids(lcr, "11", "sip:1001@x", "sip:11@x;user=phone")) == [1, 2]  # by chance
    assert ids(lcr, "11", "sip:2001@x", "sip:11@x") == []  # defunct 4 skipped at now=0..
    assert ids(lcr, "11", "sip:2001@x", "sip:11@x", now=3000) == [4]
    gold = {"1001": ["gold"]}
    assert ids(lcr, "123", "sip:1001@x", "sip:1@x", mt_values=lambda u: gold.get(u, [])) == [3]
    assert ids(lcr, "123", "sip:1002@x", "sip:1@x", mt_values=lambda u: []) == [1]
    assert ids(lcr, "123", "", "sip:1@x") == [3]  # no From URI: mt_tvalue not checked
    with pytest.raises(LcrError, match="no request URI"):
        lcr.select(1, "11", "sip:1001@x")
    assert ids(lcr, "11", "sip:1001@x", "sip:x", inactive=[1]) == []


def test_gateway_uri():
    gw = Gateway(1, 1, ip_addr="2001:db8::1", port=5061, uri_scheme=2, transport=3,
                 params=";user=phone")  # fmt: skip
    assert gw.uri == "sips:[2001:db8::1]:5061;user=phone;transport=tls"
    assert Gateway(2, 1, hostname="gw.example.com").uri == "sip:gw.example.com"


def kt(url: str, *args: str, stdin: str = ""):
    return invoke("--db", url, *args, stdin=stdin)


def ok(url: str, *args: str, stdin: str = ""):
    r = kt(url, *args, stdin=stdin)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


def test_gateways_rules_targets_and_cascades(url):
    gw1 = ok(url, "--json", "lcr", "gw", "add", "10.0.0.1", "--name", "a", "--port", "5060",
             "--transport", "udp").json()["rows"][0]["id"]  # fmt: skip
    gw2 = ok(url, "--json", "lcr", "gw", "add", "gw.example.com", "--scheme", "sips",
             "--transport", "tls", "--strip", "2", "--prefix", "00", "--params", ";user=phone",
             "--lcr-id", "2").json()["rows"][0]["id"]  # fmt: skip
    assert rows(url, "lcr_gw", "lcr_id, ip_addr, hostname, port, uri_scheme, transport, strip") == [
        (1, "10.0.0.1", None, 5060, None, 1, None), (2, None, "gw.example.com", None, 2, 3, 2),
    ]  # fmt: skip
    r1 = ok(url, "--json", "lcr", "rule", "add", "49").json()["rows"][0]["id"]
    ok(url, "lcr", "rule", "add", "49", "--from-uri", "^sip:1", "--stopper")
    assert kt(url, "lcr", "rule", "add", "49").exit_code == 4
    ok(url, "lcr", "target", "add", str(r1), str(gw1), "1", "10")
    cross = kt(url, "lcr", "target", "add", str(r1), str(gw2), "1")
    assert cross.exit_code == 2 and "lcr 1" in cross.stderr
    assert kt(url, "lcr", "target", "add", str(r1), str(gw1), "2").exit_code == 4
    assert kt(url, "lcr", "target", "add", "999", str(gw1), "2").exit_code == 3
    assert kt(url, "lcr", "target", "add", str(r1), str(gw1), "256").exit_code == 2
    sel = ok(url, "--json", "lcr", "select", "--offline", "4912").json()
    assert [(g["gw_id"], g["uri"]) for g in sel] == [(gw1, "sip:10.0.0.1:5060;transport=udp")]
    r = ok(url, "--json", "lcr", "gw", "rm", str(gw1)).json()
    assert "with 1 target(s)" in r["message"]
    assert rows(url, "lcr_rule_target", "id") == []
    ok(url, "lcr", "rule", "rm", str(r1))
    assert kt(url, "lcr", "rule", "rm", str(r1)).exit_code == 3


@pytest.mark.parametrize(
    "args, words",
    [
        (("gw", "add", "10.0.0.1", "--scheme", "sips", "--transport", "udp"), "cannot use UDP"),
        (("gw", "add", "10.0.0.1", "--transport", "ws"), "is not one of udp"),
        (("gw", "add", "bad host!"), "not a valid host name"),
        (("gw", "add", "10.0.0.1", "--params", "user=phone"), "start with ';'"),
        (("gw", "add", "10.0.0.1", "--lcr-id", "0"), "lcr_id must be between 1"),
        (("rule", "add", "1" * 17), "prefix is longer than 16"),
        (("rule", "add", "1", "--from-uri", "(x"), "not a valid regular expression"),
    ],
)
def test_bad_lcr_rows_exit_2(sqlite_db, args, words):
    r = kt(sqlite_db, "lcr", *args)
    assert r.exit_code == 2, r.stderr
    assert words in r.stderr


def test_csv_imports(url):
    gws = "lcr_id,gw_name,ip_addr,port\n" + "".join(
        f"1,g{n},10.1.0.{n},5060\n" for n in range(1, 50)
    )
    assert ok(url, "--json", "lcr", "gw", "import", "-", stdin=gws).json()["count"] == 49
    rules = "lcr_id,prefix\n1,49\n1,44\n"
    ok(url, "lcr", "rule", "import", "-", stdin=rules)
    g1, r1 = rows(url, "lcr_gw", "id")[0][0], rows(url, "lcr_rule", "id")[0][0]
    bad = kt(
        url,
        "lcr",
        "target",
        "import",
        "-",
        stdin=f"rule_id,gw_id,priority\n{r1},{g1},1\n{r1},999,1\n",
    )
    assert bad.exit_code == 2 and "line 3: no gateway 999" in bad.stderr
    ok(url, "lcr", "target", "import", "-", stdin=f"rule_id,gw_id,priority,weight\n{r1},{g1},1,7\n")
    assert rows(url, "lcr_rule_target", "lcr_id, rule_id, gw_id, priority, weight") == [
        (1, r1, g1, 1, 7)
    ]


def test_offline_select_reads_mt_tvalue_from_an_mtree(sqlite_db):
    url = sqlite_db
    gw = ok(url, "--json", "lcr", "gw", "add", "10.0.0.9").json()["rows"][0]["id"]
    rule = ok(url, "--json", "lcr", "rule", "add", "33", "--mt-tvalue", "gold").json()
    ok(url, "lcr", "target", "add", str(rule["rows"][0]["id"]), str(gw), "1")
    ok(url, "mtree", "add", "lcrtree", "555", "gold")
    args = ("--json", "lcr", "select", "--offline", "--mtree", "lcrtree", "3312")
    gold = ok(url, *args, "--from-uri", "sip:5551@x", "--request-uri", "sip:3312@x").json()
    assert [g["gw_id"] for g in gold] == [gw]
    other = ok(url, *args, "--from-uri", "sip:7771@x", "--request-uri", "sip:3312@x").json()
    assert other == []
