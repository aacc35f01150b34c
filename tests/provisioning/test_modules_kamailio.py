"""The provisioning tables against a real Kamailio 5.6 with the modules that read them
(tests/support/kamailio-provisioning.cfg), on SQLite, MariaDB and PostgreSQL:

* rows kamtool writes are loaded by Kamailio (its RPC dumps show them after the reload
  kamtool asks for);
* kamtool's offline engines give Kamailio's answers for a table of inputs;
* rows kamctl writes are shown by kamtool (SQLite, kamctl's usual engine here).
"""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest

from tests.provisioning.conftest import create_standard_tables
from tests.support.cli import invoke
from tests.support.databases import ENGINES, database
from tests.support.kamailio import require_kamailio
from tests.support.sip_probe import probe, probe_answer

pytestmark = pytest.mark.kamailio


class Server:
    """One Kamailio with its database URL, and kamtool pointed at both."""

    def __init__(self, url: str, kamailio) -> None:
        self.url, self.k = url, kamailio

    def kt(self, *args: str, stdin: str = ""):
        return invoke("--db", self.url, "--rpc", self.k.rpc_http_url, *args, stdin=stdin)

    def ok(self, *args: str, stdin: str = ""):
        r = self.kt(*args, stdin=stdin)
        assert r.exit_code == 0, (args, r.stdout, r.stderr, self.k.log_text()[-2000:])
        return r

    def clear(self, *tables: str) -> None:
        from kamtool.db.connect import connected

        with connected(self.url, auto_create=False) as db, db.atomic():
            for table in tables:
                db.execute_sql(f"DELETE FROM {table}")


@pytest.fixture(scope="module", params=ENGINES)
def server(request, tmp_path_factory):
    """A Kamailio per engine, started once for this module's tests."""
    require_kamailio()
    if request.param != "sqlite":
        request.applymarker(getattr(pytest.mark, request.param))
    from tests.support.kamailio_modules import ModulesKamailio

    base = tmp_path_factory.mktemp(f"mods-{request.param}")
    with ExitStack() as stack:
        url = stack.enter_context(database(request.param, base))
        create_standard_tables(url)
        k = stack.enter_context(ModulesKamailio(base, db=url))
        yield Server(url, k)


# ----------------------------------------------------------------------------- dialplan

DIALPLAN_RULES = [
    ("1", "10", "regexp", "^00", "0", "^00(.*)$", "+\\1", "intl"),
    ("1", "20", "regexp", "^0[1-9]", "0", "^0(.*)", "+49\\1", ""),
    ("1", "5", "equal", "112", "0", "", "sos", "emergency"),
    ("1", "30", "fnmatch", "9[0-4]*", "4", "^9(...)", "\\1|\\0\\n", "fn"),
    ("1", "31", "fnmatch", "[!5]x\\*", "0", "", "star", ""),
    ("1", "40", "regexp", "^5", "0", "", "", "no-repl"),
    ("1", "41", "regexp", "^6", "0", "^7", "x", ""),  # subst never matches: no translation
    ("1", "42", "regexp", "^6", "0", "", "unreached", ""),
    ("1", "50", "regexp", "^8(1)?(2)?", "0", "^8(1)?(2)?(.*)", "<\\1/\\2/\\3>", ""),
    ("1", "60", "regexp", "^4", "0", "^4(.*)", "\\1$rU\\u", "vars"),
    ("1", "70", "regexp", "[a-z]+@", "0", "([a-z]+)@(.*)", "\\2:\\1", "user"),
    ("2", "1", "regexp", "^x", "0", "", "lit\\0", ""),
    ("2", "2", "equal", "Abc", "3", "", "exact", ""),
    # PCRE that Python's re reads differently unless rewritten (kamtool.core.pcre)
    (
        "3",
        "1",
        "regexp",
        "^[[:digit:]]{3}$",
        "0",
        "^([[:digit:]])(?<rest>[[:digit:]]+)",
        "\\1-\\2",
        "posix",
    ),
    ("3", "2", "regexp", "^a\\z", "0", "", "az", ""),
    ("3", "3", "regexp", "^b\\Z", "0", "", "bZ", ""),
    ("3", "4", "regexp", "^[]x]", "0", "", "bracket", ""),
    ("3", "5", "regexp", "(?'n'q)", "0", "(?'n'q)(.*)", "\\2", ""),
    ("3", "6", "regexp", "^\\Q+.\\E", "0", "^\\Q+.\\E(.*)", "00\\1", "quoted"),
]
DIALPLAN_INPUTS = [
    (1, "0049301"), (1, "0301"), (1, "0"), (1, "112"), (1, "1120"), (1, "9312"),
    (1, "93123"), (1, "9512"), (1, "4x*"), (1, "5x*"), (1, "555"), (1, "6"), (1, "8"),
    (1, "81"), (1, "8123"), (1, "82"), (1, "4abc"), (1, "bob@example.com"), (1, "BOB@x"),
    (2, "xyz"), (2, "Abc"), (2, "abc"), (4, "0049"), (3, "123"), (3, "12a"), (3, "a"),
    (3, "b"), (3, "]"), (3, "x1"), (3, "qrs"), (3, "+.49"), (3, "+x49"),
]  # fmt: skip


def test_dialplan_rows_reach_kamailio_and_translations_agree(server):
    server.clear("dialplan")
    for rule in DIALPLAN_RULES:
        server.ok("dialplan", "add", *rule)  # each add asks Kamailio to reload
    dump = server.ok("--json", "dialplan", "dump", "1").json()
    # Kamailio's order: the match_len 4 rule first, then by priority
    assert [(d["pr"], d["match_exp"]) for d in dump][:3] == [
        (30, "9[0-4]*"),
        (5, "112"),
        (10, "^00"),
    ]
    assert len(dump) == 11
    assert dump[1]["repl_exp"] == "sos" and dump[1]["attrs"] == "emergency"
    for dpid, value in DIALPLAN_INPUTS:
        live = server.kt("--json", "dialplan", "translate", str(dpid), value)
        offline = server.kt("--json", "dialplan", "translate", "--offline", str(dpid), value)
        assert live.exit_code == offline.exit_code, (dpid, value, live.stdout, offline.stdout)
        if live.exit_code == 0:
            a, b = live.json(), offline.json()
            got = (b["Output"], b["Attributes"] or "")
            assert (a["Output"], a["Attributes"] or "") == got, (dpid, value)
        else:
            assert live.exit_code == 3, live.stderr


def test_dialplan_edit_reload_and_kamailio_refusing_a_bad_row(server):
    server.clear("dialplan")
    server.ok("dialplan", "add", "9", "1", "1", "^1", "0", "^1(.*)", "one-\\1")
    assert server.ok("--json", "dialplan", "translate", "9", "12").json()["Output"] == "one-2"
    server.ok("dialplan", "rm", "9", "1")
    assert server.kt("dialplan", "translate", "9", "12").exit_code == 3
    server.ok("dialplan", "add", "9", "1", "1", "^1", "0", "^1(.*)", "uno-\\1", "--no-reload")
    assert server.kt("dialplan", "translate", "9", "12").exit_code == 3  # not reloaded yet
    assert server.ok("dialplan", "reload").exit_code == 0
    assert server.ok("--json", "dialplan", "translate", "9", "12").json()["Output"] == "uno-2"
    # a row kamtool refuses (written behind its back) makes Kamailio's reload fail, and
    # the offline translation names the row instead of answering differently
    from kamtool.db.connect import connected

    with connected(server.url, auto_create=False) as db:
        db.execute_sql(
            "INSERT INTO dialplan (dpid, pr, match_op, match_exp, match_len, subst_exp, "
            f"repl_exp, attrs) VALUES (9, 2, 1, '^2', 0, '', {db.param}, '')",
            ("x\\1",),  # a back-reference without a subst_exp
        )
    assert server.kt("dialplan", "reload").exit_code == 7
    assert server.ok("--json", "dialplan", "translate", "9", "12").json()["Output"] == "uno-2"
    bad = server.kt("dialplan", "translate", "--offline", "9", "12")
    assert bad.exit_code == 2 and "would not load in Kamailio" in bad.stderr


# kamctl is run against the SQLite database (its kamctlrc is written for that engine)
KAMCTL = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


@KAMCTL
def test_dialplan_rows_written_by_kamctl_are_shown(server):
    server.clear("dialplan")
    server.k.kamctl(
        "dialplan", "addrule", "4", "7", "regexp", "^44", "0", "^44(.*)", "+44\\1", "uk"
    )
    server.k.kamctl("dialplan", "addrule", "4", "3", "equal", "999")
    shown = server.ok("--json", "dialplan", "show", "4").json()
    assert [(r["pr"], r["match_op"], r["match_exp"], r["repl_exp"], r["attrs"]) for r in shown] == [
        (3, 0, "999", "", ""),
        (7, 1, "^44", "+44\\1", "uk"),
    ]
    server.ok("dialplan", "reload")
    assert server.ok("--json", "dialplan", "translate", "4", "44207").json()["Output"] == "+44207"


# ----------------------------------------------------------------------------- mtree

CHARS = ("--char-list", "0123456789*#+")  # the test cfg's char_list
MTREE_ROWS = [
    ("cc", "49", "de"), ("cc", "4930", "berlin"), ("cc", "1", "nanp"), ("cc", "1212", "nyc"),
    ("cc", "+44", "uk"), ("cc", "*9", "star"), ("gw", "0", "local"), ("gw", "00", "intl"),
]  # fmt: skip
MTREE_INPUTS = [
    ("cc", "493012"), ("cc", "4931"), ("cc", "49"), ("cc", "4"), ("cc", "12125550"),
    ("cc", "1213"), ("cc", "+4420"), ("cc", "*90"), ("cc", "49a"), ("cc", "1x"),
    ("cc", "5"), ("gw", "0049"), ("gw", "0"), ("gw", "1"), ("none", "1"),
]  # fmt: skip


def test_mtree_rows_reach_kamailio_and_matches_agree(server):
    server.clear("mtrees")
    for row in MTREE_ROWS:
        server.ok("mtree", "add", *row, *CHARS)
    listed = server.ok("--json", "mtree", "list").json()
    assert sorted((r["tname"], r["tprefix"], r["tvalue"]) for r in listed) == sorted(MTREE_ROWS)
    summary = {r["tname"]: r for r in server.ok("--json", "mtree", "summary").json()}
    assert summary["cc"]["nritems"] == 6 and summary["gw"]["nritems"] == 2
    for tname, value in MTREE_INPUTS:
        live = server.kt("--json", "mtree", "match", tname, value)
        offline = server.kt("--json", "mtree", "match", "--offline", *CHARS, tname, value)
        assert live.exit_code == offline.exit_code, (tname, value, live.stdout, offline.stdout)
        if live.exit_code != 0:
            assert live.exit_code == 3, live.stderr
            continue
        (a,), (b,) = live.json(), offline.json()
        assert a["TVALUE"] == b["TVALUE"], (tname, value)
        # Kamailio's PREFIX is the part it walked; kamtool's the prefix that matched
        assert a["PREFIX"].startswith(b["PREFIX"]) and value.startswith(a["PREFIX"])
        every = server.kt("--json", "mtree", "match", "--offline", "--all", *CHARS, tname, value)
        live_all = server.ok("--json", "mtree", "match", "--all", tname, value).json()
        assert live_all == every.json()[-1:]  # Kamailio's JSON-RPC keeps the last one only


def test_mtree_removal_and_csv_import_reach_kamailio(server):
    server.clear("mtrees")
    csv = "tname;tprefix;tvalue\n" + "".join(f"big;{n};v{n}\n" for n in range(100, 400))
    server.ok("mtree", "import", "-", stdin=csv)
    assert server.ok("--json", "mtree", "match", "big", "1234").json()[0]["TVALUE"] == "v123"
    server.ok("mtree", "rm", "big", "123")
    assert server.kt("mtree", "match", "big", "1234").exit_code == 3
    assert len(server.ok("--json", "mtree", "list", "big").json()) == 299


# ----------------------------------------------------------------------------- uacreg


def test_uacreg_rows_reach_kamailio_and_the_runtime_commands(server):
    from tests.support.ports import free_port

    server.clear("uacreg")
    upstream = f"127.0.0.1:{free_port()}"  # nothing answers there: loopback only
    for n in (1, 2):
        server.ok(
            "uacreg", "add", f"line{n}", f"100{n}", "127.0.0.1", f"49300{n}", upstream, "",
            f"49300{n}", f"pw-{n}", f"sip:{upstream}", "600", "--reg-delay", "300",
        )  # fmt: skip
    live = server.ok("--json", "uacreg", "list").json()
    assert [(r["l_uuid"], r["r_username"], r["expires"]) for r in live] == [
        ("line1", "493001", 600), ("line2", "493002", 600),
    ]  # fmt: skip
    assert all("auth_password" not in r for r in live)
    with_secrets = server.ok("--json", "uacreg", "list", "--secrets").json()
    assert [r["auth_password"] for r in with_secrets] == ["pw-1", "pw-2"]
    info = server.ok("--json", "uacreg", "info", "493002", "--by", "r_username").json()
    assert info["l_uuid"] == "line2" and "auth_password" not in info
    server.ok("uacreg", "disable", "line1")
    assert "disabled" in server.ok("--json", "uacreg", "info", "line1").json()["state"]
    server.ok("uacreg", "enable", "line1")
    assert "disabled" not in server.ok("--json", "uacreg", "info", "line1").json()["state"]
    assert server.kt("uacreg", "info", "nope").exit_code == 3
    # a password change reaches the server with refresh; removal with the reload
    server.ok("uacreg", "passwd", "line2", "new-pw", "--no-reload")
    server.ok("uacreg", "refresh", "line2")
    got = server.ok("--json", "uacreg", "info", "line2", "--secrets").json()
    assert got["auth_password"] == "new-pw"
    server.ok("uacreg", "rm", "line1")
    assert [r["l_uuid"] for r in server.ok("--json", "uacreg", "list").json()] == ["line2"]


# ----------------------------------------------------------------------------- speeddial, avp


def test_speeddial_and_preferences_are_used_by_kamailio(server):
    server.clear("speed_dial", "usr_preferences")
    port = server.k.sip_port
    assert probe(port, "sd", "1001", "12")[0] == 404
    server.ok("--domain", "127.0.0.1", "speeddial", "add", "1001", "12", "sip:4930123@127.0.0.1")
    assert probe(port, "sd", "1001", "12") == (200, "sip:4930123@127.0.0.1")
    assert probe(port, "sd", "1002", "12")[0] == 404  # another user's short number
    server.ok("--domain", "127.0.0.1", "speeddial", "rm", "1001", "12")
    assert probe(port, "sd", "1001", "12")[0] == 404
    assert probe(port, "avp", "1001", "x")[0] == 404
    server.ok("avp", "add", "1001@127.0.0.1", "callfwd", "0", "sip:voicemail@127.0.0.1")
    assert probe(port, "avp", "1001", "x") == (200, "sip:voicemail@127.0.0.1")


@KAMCTL
def test_speeddial_and_avp_rows_written_by_kamctl_are_shown(server):
    server.clear("speed_dial", "usr_preferences")
    server.k.kamctl("speeddial", "add", "1001@127.0.0.1", "7@127.0.0.1", "sip:7777@127.0.0.1", "x")
    server.k.kamctl("avp", "add", "1001@127.0.0.1", "lang", "0", "de")
    sd = server.ok("--json", "speeddial", "show", "1001@127.0.0.1").json()
    assert [(r["sd_username"], r["new_uri"], r["description"]) for r in sd] == [
        ("7", "sip:7777@127.0.0.1", "x")
    ]
    prefs = server.ok("--json", "avp", "list", "-u", "1001@127.0.0.1").json()
    assert [(r["attribute"], r["type"], r["value"]) for r in prefs] == [("lang", 0, "de")]
    assert prefs[0]["last_modified"]  # kamctl's NOW() reads back as a date


# regexp match_exp with a variable, in dpid 7 (the cfg's "dp" probe sets $var(pre))
DYNAMIC_RULES = [
    ("7", "1", "regexp", "^$var(pre)[0-9]", "0", "", "dynamic", "dyn"),
    ("7", "2", "regexp", "^x", "0", "", "plain", ""),
]
# (X-Pre, R-URI user, the answer): with match_dynamic the variable takes its value
DYNAMIC_INPUTS = [("55", "551", "dynamic"), ("66", "551", None), ("", "5", "dynamic"),
                  ("55", "x1", "plain")]  # fmt: skip


def test_dialplan_match_dynamic(server):
    """dialplan's match_dynamic (cfg: 1): Kamailio fills the variables of a regexp
    match_exp in before it matches (kamtool's KSR side: tests/ksr/test_rule_tables.py)."""
    server.clear("dialplan")
    for rule in DYNAMIC_RULES:
        server.ok("dialplan", "add", *rule)
    for pre, user, want in DYNAMIC_INPUTS:
        status, reason, _ = probe_answer(server.k.sip_port, "dp", "1001", user,
                                         headers={"X-Pre": pre})  # fmt: skip
        assert (status, reason if status == 200 else None) == (200 if want else 404, want), (
            pre, user, server.k.log_text()[-1500:])  # fmt: skip


# ----------------------------------------------------------------------------- lcr

# (prefix, from_uri, request_uri, stopper, [(gateway number, priority, weight)])
LCR_RULES = [
    ("49", None, None, 0, [(1, 2, 1), (2, 1, 1)]),
    ("4930", None, None, 0, [(3, 1, 1), (1, 0, 1)]),
    ("4940", "^sip:100[0-9]@", None, 1, [(4, 3, 1)]),
    ("4940", None, ";user=phone", 0, [(2, 4, 1)]),
    ("", None, None, 0, [(5, 9, 1)]),
    ("44", None, None, 0, [(2, 1, 1)]),
    # one prefix, four rules, a stopper among them: where the search ends follows the order
    # the database returns the rows in (by from_uri on SQLite and MySQL), not the rule ids
    ("47", None, None, 0, [(1, 1, 1)]),
    ("47", "sip", None, 0, [(2, 2, 1)]),
    ("47", "s", None, 1, [(3, 3, 1)]),
    ("47", "i", None, 0, [(4, 0, 1)]),
]
# (uri_user, from_uri, request_uri): every tie of priority has one gateway
LCR_INPUTS = [
    ("493012", "sip:2000@x", "sip:493012@x"), ("4912", "sip:2000@x", "sip:4912@x"),
    ("494012", "sip:1001@x", "sip:494012@x"), ("494012", "sip:2000@x", "sip:494012@x;user=phone"),
    ("494012", "sip:2000@x", "sip:494012@x"), ("44", "", ""), ("1", "", ""), ("4", "", ""),
    ("4712", "sip:2000@x", "sip:4712@x"), ("4712", "sip:2000@x", ""), ("4712", "", ""),
]  # fmt: skip


def test_lcr_rows_reach_kamailio_and_selections_agree(server):
    server.clear("lcr_gw", "lcr_rule", "lcr_rule_target")
    gws = []
    for n in range(1, 6):
        r = server.ok("--json", "lcr", "gw", "add", f"127.0.0.{n}", "--name", f"gw{n}",
                      "--port", str(5060 + n), "--no-reload")  # fmt: skip
        gws.append(r.json()["rows"][0]["id"])
    for prefix, from_uri, ruri, stopper, targets in LCR_RULES:
        args = [prefix, "--no-reload"]
        args += ["--from-uri", from_uri] if from_uri else []
        args += ["--request-uri", ruri] if ruri else []
        args += ["--stopper"] if stopper else []
        rule = server.ok("--json", "lcr", "rule", "add", *args).json()["rows"][0]["id"]
        for n, priority, weight in targets:
            server.ok("lcr", "target", "add", str(rule), str(gws[n - 1]), str(priority),
                      str(weight), "--no-reload")  # fmt: skip
    server.ok("lcr", "reload")
    dumped = server.ok("--json", "lcr", "dump-gws").json()
    assert sorted(g["gw_name"] for g in dumped) == [f"gw{n}" for n in range(1, 6)]
    assert len(server.ok("--json", "lcr", "dump-rules").json()) == len(LCR_RULES)
    for user, from_uri, ruri in LCR_INPUTS:
        opts = ["--from-uri", from_uri] if from_uri else []
        opts += ["--request-uri", ruri] if ruri else []
        live = server.ok("--json", "lcr", "select", user, *opts).json()
        offline = server.ok("--json", "lcr", "select", "--offline", user, *opts).json()
        assert [g["gw_id"] for g in live] == [g["gw_id"] for g in offline], (user, from_uri, ruri)
        assert [g["uri"] for g in live] == [g["uri"] for g in offline]
    # a gateway taken out of service at run time is skipped (lcr.defunct_gw lives in
    # Kamailio's memory only; the offline selection knows the table's defunct column)
    server.ok("lcr", "defunct", str(gws[2]), "600")
    live = [g["gw_id"] for g in server.ok("--json", "lcr", "select", "493012").json()]
    assert gws[2] not in live and live[0] == gws[0]


# (gateway options, R-URI user): one rule per gateway, its prefix the user's first digits
LCR_HOPS = [
    (
        (
            "127.0.0.1",
            "--port",
            "5070",
            "--transport",
            "udp",
            "--params",
            ";user=phone",
            "--tag",
            "edge-a",
            "--flags",
            "5",
        ),
        "801",
    ),  # fmt: skip
    (("gw.example.com", "--strip", "2", "--prefix", "+49"), "8021234"),
    (
        (
            "gw.example.com",
            "--ip",
            "127.0.0.2",
            "--port",
            "5071",
            "--transport",
            "tcp",
            "--params",
            ";x=y",
        ),
        "803",
    ),
    (("127.0.0.3", "--scheme", "sips", "--transport", "tls"), "804"),
]


def test_lcr_next_gw_uris_agree(server):
    server.clear("lcr_gw", "lcr_rule", "lcr_rule_target")
    for gw_args, user in LCR_HOPS:
        gw = server.ok("--json", "lcr", "gw", "add", *gw_args, "--no-reload").json()
        rule = server.ok("--json", "lcr", "rule", "add", user[:3], "--no-reload").json()
        server.ok("lcr", "target", "add", str(rule["rows"][0]["id"]),
                  str(gw["rows"][0]["id"]), "1", "--no-reload")  # fmt: skip
    server.ok("lcr", "reload")
    for _, user in LCR_HOPS:
        status, ruri, answer = probe_answer(server.k.sip_port, "lcr", "1001", user)
        assert status == 200, (ruri, server.k.log_text()[-1500:])
        dst = re.search(r"^X-Dst: (.*?)\r$", answer, re.MULTILINE).group(1)
        (first, *_) = server.ok(
            "--json", "lcr", "select", "--offline", user, "--from-uri", "sip:1001@127.0.0.1"
        ).json()
        assert (ruri, dst if dst not in ("", "<null>") else None) == (
            first["ruri"], first["dst_uri"]
        ), user  # fmt: skip
        live = server.ok("--json", "lcr", "select", user).json()
        assert (live[0]["ruri"], live[0]["dst_uri"]) == (first["ruri"], first["dst_uri"])
        # next_gw wrote the gateway's tag and flags to tag_avp and flags_avp (as kamtool's
        # KSR.lcr does with lcr_tag_avp/lcr_flags_avp: tests/ksr/test_rule_tables.py)
        tag = re.search(r"^X-Tag: (.*?)\r$", answer, re.MULTILINE).group(1)
        flags = re.search(r"^X-Flags: (.*?)\r$", answer, re.MULTILINE).group(1)
        assert (tag, int(flags)) == (first["tag"] or "", first["flags"] or 0), user
