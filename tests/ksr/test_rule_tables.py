"""The dialplan and mtree modules on ``kamtool serve``: the RPCs (``dialplan.reload``,
``dialplan.translate``, ``dialplan.dump``, ``mtree.reload/list/match/summary``) answer as a
real Kamailio 5.6 with the same rows does (the same assertions run against both), kamtool's
own ``dialplan``/``mtree`` commands work against kamtool serve, and a route script's
``KSR.dialplan``/``KSR.mtree`` calls translate and match SIP requests' R-URI users."""

from __future__ import annotations

from contextlib import ExitStack
from types import SimpleNamespace

import pytest

from tests.interop.wire import Peer
from tests.ksr.conftest import SCRIPTS
from tests.provisioning.conftest import create_standard_tables
from tests.provisioning.test_modules_kamailio import (
    CHARS,
    DIALPLAN_RULES,
    DYNAMIC_INPUTS,
    DYNAMIC_RULES,
    LCR_RULES,
    MTREE_ROWS,
    Server,
)
from tests.provisioning.test_modules_kamailio import (
    test_dialplan_edit_reload_and_kamailio_refusing_a_bad_row as dialplan_edit_and_refusal,
)
from tests.provisioning.test_modules_kamailio import (
    test_dialplan_rows_reach_kamailio_and_translations_agree as dialplan_rows_and_translations,
)
from tests.provisioning.test_modules_kamailio import (
    test_lcr_rows_reach_kamailio_and_selections_agree as lcr_rows_and_selections,
)
from tests.provisioning.test_modules_kamailio import (
    test_mtree_removal_and_csv_import_reach_kamailio as mtree_removal_and_import,
)
from tests.provisioning.test_modules_kamailio import (
    test_mtree_rows_reach_kamailio_and_matches_agree as mtree_rows_and_matches,
)
from tests.provisioning.test_modules_kamailio import (
    test_speeddial_and_preferences_are_used_by_kamailio as speeddial_and_preferences,
)
from tests.support.cli import invoke
from tests.support.databases import ENGINES, database
from tests.support.kamailio import require_kamailio

TARGETS = [pytest.param("kamailio", marks=pytest.mark.kamailio), "kamtool"]
# the KSR route runs on kamtool serve only (the Kamailio here runs a native cfg)
KAMTOOL_ONLY = pytest.mark.parametrize("server", ["kamtool"], indirect=True)
# the modparams of tests/support/kamailio-provisioning.cfg that kamtool serve has too
PROXY_TOML = (
    'dp_attrs_pvar = "$var(dpattrs)"\nmt_char_list = "0123456789*#+"\nlcr_count = 4\n'
    'lcr_tag_avp = "$avp(lcr_tag)"\nlcr_flags_avp = "$avp(lcr_flags)"\ndp_match_dynamic = true'
)


class Target(Server):
    """A :class:`Server` (database URL, server, kamtool commands pointed at both) that
    knows its name and SIP port."""

    def __init__(self, name: str, url: str, server) -> None:
        super().__init__(url, server)
        self.name = name

    def fault(self, method: str, *params) -> str:
        """The error of an RPC that must fail, as the test client reports it."""
        with pytest.raises(RuntimeError) as info:
            self.k.rpc(method, *params)
        return str(info.value)


@pytest.fixture(scope="module", params=TARGETS)
def server(request, tmp_path_factory):
    """Kamailio 5.6 with the dialplan and mtree modules, or ``kamtool serve --route``
    running tests/ksr/scripts/rule_lookups.py, on SQLite."""
    base = tmp_path_factory.mktemp(f"rules-{request.param}")
    with ExitStack() as stack:
        if request.param == "kamailio":
            require_kamailio()
            from tests.support.kamailio_modules import ModulesKamailio

            url = stack.enter_context(database("sqlite", base))
            create_standard_tables(url)
            k = stack.enter_context(ModulesKamailio(base, db=url))
        else:
            from tests.support.kemi import KemiKamtool

            k = stack.enter_context(
                KemiKamtool(base, SCRIPTS / "rule_lookups.py", proxy_toml=PROXY_TOML)
            )
            url = k.db_url  # kamtool made every table, mtrees too
        yield Target(request.param, url, k)


def _load_rows(server: Target) -> None:
    server.clear("dialplan", "mtrees")
    for rule in DIALPLAN_RULES:
        server.ok("dialplan", "add", *rule, "--no-reload")
    for row in MTREE_ROWS:
        server.ok("mtree", "add", *row, *CHARS, "--no-reload")
    server.ok("dialplan", "reload")
    server.ok("mtree", "reload")


def test_dialplan_rpc_answers(server):
    _load_rows(server)
    rpc = server.k.rpc
    assert rpc("dialplan.reload") == {}
    assert rpc("dialplan.dump", 2) == {"DPID": 2, "ENTRIES": [
        {"ENTRY": {"PRIO": 2, "MATCHOP": 0, "MATCHEXP": "Abc", "MATCHLEN": 3,
                   "SUBSTEXP": None, "REPLEXP": "exact", "ATTRS": None}},
        {"ENTRY": {"PRIO": 1, "MATCHOP": 1, "MATCHEXP": "^x", "MATCHLEN": 0,
                   "SUBSTEXP": None, "REPLEXP": "lit\\0", "ATTRS": None}},
    ]}  # fmt: skip
    first = rpc("dialplan.dump", 1)["ENTRIES"][0]["ENTRY"]
    assert first == {"PRIO": 30, "MATCHOP": 2, "MATCHEXP": "9[0-4]*", "MATCHLEN": 4,
                     "SUBSTEXP": "^9(...)", "REPLEXP": "\\1|\\0\\n", "ATTRS": "fn"}  # fmt: skip
    assert rpc("dialplan.translate", 1, "0049301") == {"Output": "+49301", "Attributes": "intl"}
    # the same through `kamtool rpc` (its arguments typed as kamcmd does)
    r = server.ok("--json", "rpc", "dialplan.translate", "1", "s:0049301")
    assert r.json() == {"Output": "+49301", "Attributes": "intl"}
    assert rpc("dialplan.translate", 1, "112") == {"Output": "sos", "Attributes": "emergency"}
    assert rpc("dialplan.translate", 1, "5x") == {"Output": "", "Attributes": "no-repl"}
    assert "'code': 500, 'message': 'No translation'" in server.fault(
        "dialplan.translate", 1, "zzz"
    )
    assert "'message': 'Dialplan ID not matched'" in server.fault("dialplan.translate", 7, "1")
    assert "'message': 'Dialplan ID not matched'" in server.fault("dialplan.dump", 7)


def test_mtree_rpc_answers(server):
    _load_rows(server)
    rpc = server.k.rpc
    assert rpc("mtree.reload") == "Ok. Mtrees reloaded."
    assert [(r["tname"], r["tprefix"], r["tvalue"]) for r in rpc("mtree.list")] == [
        ("cc", "1", ["nanp"]), ("cc", "1212", ["nyc"]), ("cc", "49", ["de"]),
        ("cc", "4930", ["berlin"]), ("cc", "*9", ["star"]), ("cc", "+44", ["uk"]),
        ("gw", "0", ["local"]), ("gw", "00", ["intl"]),
    ]  # fmt: skip
    assert rpc("mtree.list", "gw") == [
        {"tname": "gw", "tprefix": "0", "tvalue": ["local"]},
        {"tname": "gw", "tprefix": "00", "tvalue": ["intl"]},
    ]
    items = {s["table"]: s["item"] for s in rpc("mtree.summary")}
    for name, nodes, count, memsize in (("cc", 10, 6, 3147), ("gw", 2, 2, 635)):
        item = items[name]
        assert (item["ttype"], item["nrnodes"], item["nritems"]) == (0, nodes, count)
        assert item["memsize"] == memsize
        assert item["reload_time"] > 1_700_000_000
    assert rpc("mtree.match", "cc", "493012", 0) == {"PREFIX": "4930", "TVALUE": "berlin"}
    assert rpc("mtree.match", "cc", "4931", 0) == {"PREFIX": "4931", "TVALUE": "de"}
    r = server.ok("--json", "rpc", "mtree.match", "cc", "s:4931", "0")
    assert r.json() == {"PREFIX": "4931", "TVALUE": "de"}
    assert rpc("mtree.match", "cc", "493012", 2) == {"PREFIX": "4930", "TVALUE": "berlin"}
    assert "'code': 404, 'message': 'Prefix not found'" in server.fault("mtree.match", "cc", "5", 0)
    assert "'code': 404, 'message': 'Tree not found'" in server.fault("mtree.match", "none", "1", 0)
    assert "Invalid parameter 'mode'" in server.fault("mtree.match", "cc", "1", 1)


# kamtool's own commands against the server: the provisioning interop tests, as they run
# against Kamailio in tests/provisioning/test_modules_kamailio.py


def test_dialplan_commands(server):
    dialplan_rows_and_translations(server)
    dialplan_edit_and_refusal(server)


def test_mtree_commands(server):
    mtree_rows_and_matches(server)
    mtree_removal_and_import(server)


# ------------------------------------------------------------------- KSR over SIP


def ask(server: Target, user: str, op: str, host: str = "127.0.0.1") -> str:
    """The reason phrase of rule_lookups.py's answer to an OPTIONS for ``user@host``."""
    with Peer("udp", server.k.sip_port) as p:
        r = p.ask(p.request("OPTIONS", f"sip:{user}@{host}", headers=[f"X-Op: {op}"]))
    assert r.status == 200, r.first
    return r.reason


@KAMTOOL_ONLY
def test_ksr_dialplan_and_mtree_in_a_route(server):
    """``KSR.dialplan`` and ``KSR.mtree`` in a route script, over SIP."""
    _load_rows(server)
    assert ask(server, "0049301", "translate 1") == "rc=1 out=+49301 attrs=intl"
    assert ask(server, "0301", "translate 1") == "rc=1 out=+49301 attrs="
    assert ask(server, "112", "replace 1") == "rc=1 out=sos attrs=emergency"
    # \u is the R-URI and $rU the user, inside a route (over RPC they stay as written)
    assert ask(server, "4abc", "replace 1") == "rc=1 out=abc4abcsip:4abc@127.0.0.1 attrs=vars"
    assert ask(server, "4abc", "match 1") == "rc=1 out=4abc attrs=vars"
    assert ask(server, "zzz", "translate 1") == "rc=-1 out=zzz attrs=-"
    assert ask(server, "6", "replace 1") == "rc=-1 out=- attrs=-"  # the rule's subst fails
    assert ask(server, "1", "translate 9") == "rc=-1 out=1 attrs=-"  # no such dpid
    # dp_match_dynamic (Kamailio's match_dynamic: the same rows and inputs against a real
    # Kamailio in tests/provisioning/test_modules_kamailio.py)
    for rule in DYNAMIC_RULES:
        server.ok("dialplan", "add", *rule, "--no-reload")
    server.ok("dialplan", "reload")
    for pre, user, want in DYNAMIC_INPUTS:
        got = ask(server, user, f"translatepre 7 {pre or '-'}")
        assert got == (f"rc=1 out={want} attrs=" + ("dyn" if want == "dynamic" else "")
                       if want else f"rc=-1 out={user} attrs=-"), (pre, user)  # fmt: skip
    assert ask(server, "493012", "mtree cc 0") == "rc=1 out=berlin attrs=-"
    assert ask(server, "4931", "mtree cc 0") == "rc=1 out=de attrs=-"
    assert ask(server, "4931", "mtree cc 2") == "rc=1 out=de attrs=-"
    assert ask(server, "5", "mtree cc 0") == "rc=-1 out= attrs=-"
    assert ask(server, "49a", "mtree cc 0") == "rc=-1 out= attrs=-"  # 'a' not in char_list
    assert ask(server, "1", "mtree none 0") == "rc=-1 out= attrs=-"
    # a row changed in the database counts after the reload only
    server.ok("dialplan", "add", "9", "1", "equal", "1", "0", "", "one", "", "--no-reload")
    assert ask(server, "1", "translate 9") == "rc=-1 out=1 attrs=-"
    server.ok("dialplan", "reload")
    assert ask(server, "1", "translate 9") == "rc=1 out=one attrs="


# ------------------------------------------------------------------------------- lcr


def _load_lcr(server: Target) -> list[int]:
    """LCR_RULES's gateways gw1..gw5 (gw1 with strip, prefix, tag and flags) and gw6 (a
    host name and an IP address, sips over TCP, params) behind a rule of its own, "66"."""
    server.clear("lcr_gw", "lcr_rule", "lcr_rule_target")
    gws = []
    for n in range(1, 6):
        extra = ["--tag", "t1", "--flags", "3", "--strip", "1", "--prefix", "+"] if n == 1 else []
        r = server.ok("--json", "lcr", "gw", "add", f"127.0.0.{n}", "--name", f"gw{n}",
                      "--port", str(5060 + n), *extra, "--no-reload")  # fmt: skip
        gws.append(r.json()["rows"][0]["id"])
    r = server.ok("--json", "lcr", "gw", "add", "gw.example.com", "--ip", "127.0.0.9",
                  "--transport", "tcp", "--params", ";x=y", "--scheme", "sips",
                  "--no-reload")  # fmt: skip
    gws.append(r.json()["rows"][0]["id"])
    for prefix, from_uri, ruri, stopper, targets in [
        *LCR_RULES,
        ("66", None, None, 0, [(6, 1, 1)]),
    ]:
        args = [prefix, "--no-reload"]
        args += ["--from-uri", from_uri] if from_uri else []
        args += ["--request-uri", ruri] if ruri else []
        args += ["--stopper"] if stopper else []
        rule = server.ok("--json", "lcr", "rule", "add", *args).json()["rows"][0]["id"]
        for n, priority, weight in targets:
            server.ok("lcr", "target", "add", str(rule), str(gws[n - 1]), str(priority),
                      str(weight), "--no-reload")  # fmt: skip
    server.ok("lcr", "reload")
    return gws


def test_lcr_rpc_answers(server):
    gws = _load_lcr(server)
    rpc = server.k.rpc
    assert rpc("lcr.reload") == {}
    dumped = rpc("lcr.dump_gws")["gw"]
    assert [g["gw_id"] for g in dumped] == gws and [g["gw_index"] for g in dumped] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    assert dumped[0] == {
        "lcr_id": 1, "gw_index": 1, "gw_id": gws[0], "gw_name": "gw1", "scheme": "sip:",
        "ip_addr": "127.0.0.1", "hostname": "", "port": 5061, "params": "", "transport": "",
        "strip": 1, "prefix": "+", "tag": "t1", "flags": 3, "state": 0, "defunct_until": "0",
    }  # fmt: skip
    assert dumped[5] == {
        "lcr_id": 1, "gw_index": 6, "gw_id": gws[5], "gw_name": "", "scheme": "sips:",
        "ip_addr": "127.0.0.9", "hostname": "gw.example.com", "port": 0, "params": ";x=y",
        "transport": ";transport=tcp", "strip": 0, "prefix": "", "tag": "", "flags": 0,
        "state": 0, "defunct_until": "0",
    }  # fmt: skip
    rules = rpc("lcr.dump_rules")
    assert rules["prefix_len"] == [4, 2, 0]
    by_prefix = {}
    for r in rules["rule"]:
        by_prefix.setdefault(r["prefix"], []).append(
            (r["from_uri"], r["request_uri"], r["stopper"],
             [(t["gw_index"], t["priority"], t["weight"]) for t in r["gw"]])
        )  # fmt: skip
    assert by_prefix["49"] == [("", "", 0, [(2, 1, 1), (1, 2, 1)])]  # targets by priority
    assert by_prefix["4930"] == [("", "", 0, [(1, 0, 1), (3, 1, 1)])]
    assert sorted(by_prefix["4940"]) == [("", ";user=phone", 0, [(2, 4, 1)]),
                                         ("^sip:100[0-9]@", "", 1, [(4, 3, 1)])]  # fmt: skip
    assert len(rules["rule"]) == len(LCR_RULES) + 1
    assert "'code': 404, 'message': 'Empty reply'" in server.fault("lcr.dump_rules", 2)

    def chosen(*params) -> list[int]:
        return [gws.index(g["gw_id"]) + 1 for g in rpc("lcr.load_gws", 1, *params)]

    assert chosen("493012") == [1, 3, 2, 5]
    assert chosen("494012", "sip:1001@x", "sip:494012@x") == [4]  # the stopper rule
    assert chosen("494012", "sip:2000@x", "sip:494012@x;user=phone") == [2, 1, 5]
    assert chosen("7") == [5]
    r = server.ok("--json", "rpc", "lcr.load_gws", "1", "s:7")  # s: keeps it a string
    assert [g["gw_id"] for g in r.json()] == [gws[4]]
    assert rpc("lcr.load_gws", 1, "7")[0]["gw_name"] == "gw5"
    # defunct_gw's third parameter is a period (Kamailio adds it to the time)
    assert rpc("lcr.defunct_gw", 1, gws[2], 600) == {}
    assert chosen("493012") == [1, 2, 5]
    until = int(rpc("lcr.dump_gws")["gw"][2]["defunct_until"])
    assert 500 < until - __import__("time").time() <= 600
    assert "'code': 400, 'message': 'parameter value error (see syslog)'" in server.fault(
        "lcr.defunct_gw", 1, 999, 600
    )
    rpc("lcr.defunct_gw", 1, gws[2], 0)
    assert chosen("493012") == [1, 3, 2, 5]


def test_lcr_commands(server):
    lcr_rows_and_selections(server)


@KAMTOOL_ONLY
def test_ksr_lcr_in_a_route(server):
    """``KSR.lcr``: load_gws and next_gw set each gateway's R-URI and $du as
    ``kamtool lcr select --offline`` computes them (Kamailio's next_gw URIs, compared
    with a real Kamailio in tests/provisioning); defunct_gw, from_gw, to_gw."""
    gws = _load_lcr(server)
    for user in ("493012", "494012", "661", "44", "7"):
        offline = server.ok("--json", "lcr", "select", "--offline", user,
                            "--from-uri", "sip:1001@127.0.0.1",
                            "--request-uri", f"sip:{user}@127.0.0.1").json()  # fmt: skip
        hops = " ".join(f"{g['ruri']}>{g['dst_uri'] or 'null'}" for g in offline)
        assert ask(server, user, "lcr 1") == f"rc=1 out={hops} attrs=-", user
    assert ask(server, "661", "lcr 1").split()[1] == (
        "out=sips:661@gw.example.com;x=y>sips:127.0.0.9;transport=tcp"
    )
    assert ask(server, "493012", "lcr 1").split()[1] == "out=sip:+93012@127.0.0.1:5061>null"
    assert ask(server, "1", "lcr 3") == "rc=2 out= attrs=-"  # no gateway: 2
    # the first gateway taken out of service by the route: the next call starts at gw3
    assert (
        ask(server, "493012", "lcr 1 defunct") == "rc=1 out=sip:+93012@127.0.0.1:5061>null attrs=-"
    )
    assert ask(server, "493012", "lcr 1").split()[1] == "out=sip:493012@127.0.0.3:5063>null"
    assert int(server.k.rpc("lcr.dump_gws")["gw"][0]["defunct_until"]) > 0
    server.ok("lcr", "reload")  # the table's state again
    assert gws[0] == server.k.rpc("lcr.load_gws", 1, "493012")[0]["gw_id"]
    # the test client sends from 127.0.0.1 over UDP: gw1's address (no transport set)
    assert ask(server, "1", "fromgw 1") == "rc=1 out=1 attrs=-"
    assert ask(server, "1", "fromgw 2") == "rc=-1 out=1 attrs=-"
    assert ask(server, "1", "togw 1", host="127.0.0.4") == "rc=1 out=1 attrs=-"
    assert ask(server, "1", "togw 1", host="127.0.0.99") == "rc=-1 out=1 attrs=-"
    # lcr modparams: tag_avp and flags_avp (gw1: tag t1, flags 3; gw3: none), lcr_count 4
    assert ask(server, "493012", "lcrtag 1") == "rc=1 out=t1/3 attrs=-"
    assert ask(server, "44", "lcrtag 1") == "rc=1 out=/0 attrs=-"  # gw2
    assert ask(server, "1", "fromgwtag 1") == "rc=1 out=t1/3 attrs=-"  # from gw1's address
    assert ask(server, "1", "fromgwtag 2") == "rc=-1 out=None/None attrs=-"
    assert ask(server, "1", "fromany") == "rc=1 out=1 attrs=-"  # the lcr_id of gw1
    assert ask(server, "1", "toany", host="127.0.0.99") == "rc=-1 out=1 attrs=-"
    assert ask(server, "1", "lcr 4") == "rc=2 out= attrs=-"  # served, nothing in it
    assert ask(server, "1", "lcr 5") == "rc=-1 out= attrs=-"  # beyond lcr_count: an error
    assert "excution error" in server.fault("lcr.load_gws", 5, "1")


# ------------------------------------------------------------------ speeddial, avpops


def test_sd_lookup_and_avp_db_load(server):
    """The provisioning cfg's sd/avp probes against Kamailio; rule_lookups.py answers the
    same probes with KSR.speeddial.sd_lookup and KSR.avpops.avp_db_load on kamtool."""
    speeddial_and_preferences(server)


# ------------------------------------------------------------- the tables on each engine


@pytest.mark.parametrize(
    "engine", [e if e == "sqlite" else pytest.param(e, marks=getattr(pytest.mark, e))
               for e in ENGINES],
)  # fmt: skip
def test_rule_tables_load_on_every_engine(engine, tmp_path):
    """The proxy's copies load from each database; a database without the tables leaves
    them empty (logged) and the connection usable; a bad row fails the reload and keeps
    the rules loaded before."""
    from kamtool.proxy.rule_tables import RuleTables, TableLoadError
    from kamtool.proxy.server import open_proxy_database

    with database(engine, tmp_path) as url:
        if engine != "sqlite":  # an empty server database: no tables at all
            empty = open_proxy_database(url)
            tables = RuleTables(empty)
            tables.load()
            assert 1 not in tables.dialplan and not tables.mtree.trees and not tables.lcr.rules
            assert empty.execute_sql("SELECT 1").fetchone()[0] == 1
            empty.close()
        create_standard_tables(url)

        def ok(*args: str):
            r = invoke("--db", url, *args)
            assert r.exit_code == 0, (args, r.stderr)
            return r

        kt = SimpleNamespace(ok=ok)
        kt.ok("dialplan", "add", "1", "1", "regexp", "^0", "0", "^0(.*)", "+49\\1", "de",
              "--no-reload")  # fmt: skip
        kt.ok("mtree", "add", "cc", "49", "de", "--no-reload")
        gw = kt.ok("--json", "lcr", "gw", "add", "127.0.0.7", "--no-reload").json()["rows"][0]
        rule = kt.ok("--json", "lcr", "rule", "add", "49", "--no-reload").json()["rows"][0]
        kt.ok("lcr", "target", "add", str(rule["id"]), str(gw["id"]), "1", "--no-reload")
        db = open_proxy_database(url)
        try:
            tables = RuleTables(db)
            tables.load()
            assert tables.dialplan.translate(1, "0301").output == "+49301"
            assert tables.mtree.match("cc", "4930").value == "de"
            assert [s.gateway.ip_addr for s in tables.lcr.select(1, "4930")] == ["127.0.0.7"]
            db.execute_sql(
                "INSERT INTO dialplan (dpid, pr, match_op, match_exp, match_len, subst_exp, "
                f"repl_exp, attrs) VALUES (1, 2, 1, '^2', 0, '', {db.param}, '')",
                ("x\\1",),  # a back-reference without a subst_exp: Kamailio refuses it
            )
            with pytest.raises(TableLoadError):
                tables.reload_dialplan()
            assert tables.dialplan.translate(1, "0301").output == "+49301"
        finally:
            db.close()
