"""`kamtool apply | export | drift` on an empty database of each engine: rows as kamctl
writes them, one transaction, a second plan with nothing to do, TOML and YAML."""

from __future__ import annotations

import hashlib

import pytest

from tests.support.cli import invoke

STATE = """
[[domains]]
domain = "example.com"
[[subscribers]]
user = "1001@example.com"
password = "pw1001"
[[subscribers]]
user = "1002"
password_env = "KT_TEST_PW1002"
[[subscribers]]
user = "1003@example.com"
ha1 = "0123456789abcdef0123456789abcdef"
[[aliases]]
alias = "5001@example.com"
user = "1001@example.com"
[[acl]]
user = "1001@example.com"
groups = ["local", "ld"]
[[address]]
group = 1
ip = "10.0.0.10"
tag = "gw"
[[trusted]]
src_ip = "10.0.0.20"
proto = "udp"
from_pattern = "^sip:.*@example.com$"
[[dispatcher]]
set = 1
uri = "sip:10.0.0.30:5060"
priority = 5
[[dialplan]]
dpid = 1
pr = 1
match_exp = "^0"
subst_exp = "^0"
repl_exp = "+49"
"""

YAML = """
domains:
  - domain: example.com
subscribers:
  - user: 1001@example.com
    password: pw1001
dispatcher:
  - {set: 2, uri: "sip:10.0.0.31:5060"}
"""


def kt(url: str, *args: str):
    return invoke("--db", url, "--domain", "example.com", "--json", *args,
                  env={"KT_TEST_PW1002": "pw1002"})  # fmt: skip


def _rows(url: str, sql: str) -> list[dict]:
    res = invoke("--db", url, "--json", "db", "query", sql)
    assert res.exit_code == 0, res.stdout
    return res.json()


def test_apply_to_an_empty_database(std_url, tmp_path):
    state = tmp_path / "state.toml"
    state.write_text(STATE)
    plan = kt(std_url, "apply", str(state), "--plan")
    assert plan.exit_code == 0, plan.stdout
    assert len(plan.json()["steps"]) == 11
    assert _rows(std_url, "SELECT COUNT(*) AS n FROM subscriber")[0]["n"] == 0  # --plan
    res = kt(std_url, "apply", str(state))
    assert res.exit_code == 0, res.stdout
    assert sorted(res.json()["changed"]) == sorted(["domains", "subscribers", "aliases", "acl",
        "address", "trusted", "dispatcher", "dialplan"])  # fmt: skip
    assert "pw1001" not in res.stdout  # secrets never shown
    subs = {r["username"]: r for r in _rows(std_url, "SELECT * FROM subscriber")}
    md5 = hashlib.md5(b"1001:example.com:pw1001").hexdigest()
    assert (subs["1001"]["ha1"], subs["1001"]["password"]) == (md5, "pw1001")  # kamctl's rows
    assert subs["1002"]["ha1"] == hashlib.md5(b"1002:example.com:pw1002").hexdigest()
    assert subs["1003"]["ha1"] == "0123456789abcdef0123456789abcdef"
    assert [r["grp"] for r in _rows(std_url, "SELECT grp FROM grp ORDER BY grp")] == ["ld", "local"]
    # a second plan has nothing to do, and drift agrees
    again = kt(std_url, "apply", str(state), "--plan")
    assert again.json()["steps"] == []
    assert kt(std_url, "drift", str(state), "--no-memory").exit_code == 0


def test_changes_removals_and_secrets(std_url, tmp_path):
    state = tmp_path / "state.toml"
    state.write_text(STATE)
    assert kt(std_url, "apply", str(state)).exit_code == 0
    # keys before the first table: "aliases = []" keeps the section managed and empty
    changed = "aliases = []\n" + (
        STATE.replace('password = "pw1001"', 'password = "new1001"')
        .replace("priority = 5", "priority = 7")
        .replace('[[aliases]]\nalias = "5001@example.com"\nuser = "1001@example.com"\n', ""))
    state.write_text(changed)
    drift = kt(std_url, "drift", str(state), "--no-memory")
    assert drift.exit_code == 9
    found = {(d["table"], d["what"], d["detail"]) for d in drift.json()["differences"]}
    assert ("subscriber", "1001@example.com", "differs: password") in found
    assert ("dbaliases", "5001@example.com", "in the database, not in the file") in found
    assert any(t == "dispatcher" and "priority" in d for t, _, d in found)
    assert "new1001" not in drift.stdout
    steps = kt(std_url, "apply", str(state)).json()["steps"]
    assert {(s["action"], s["section"]) for s in steps} == {
        ("update", "subscribers"), ("remove", "aliases"), ("update", "dispatcher")}
    assert _rows(std_url, "SELECT COUNT(*) AS n FROM dbaliases")[0]["n"] == 0
    ha1 = _rows(std_url, "SELECT ha1 FROM subscriber WHERE username = '1001'")[0]["ha1"]
    assert ha1 == hashlib.md5(b"1001:example.com:new1001").hexdigest()
    assert kt(std_url, "apply", str(state), "--plan").json()["steps"] == []


def test_export_round_trip_toml_and_yaml(std_url, tmp_path):
    state = tmp_path / "state.toml"
    state.write_text(STATE)
    assert kt(std_url, "apply", str(state)).exit_code == 0
    for name in ("out.toml", "out.yaml"):
        out = tmp_path / name
        assert kt(std_url, "export", str(out), "--secrets").exit_code == 0
        # the exported state applied to the same database changes nothing
        assert kt(std_url, "apply", str(out), "--plan").json()["steps"] == [], name
    plain = invoke("--db", std_url, "export")
    assert "ha1" not in plain.stdout and "pw1001" not in plain.stdout  # secrets only on request


def test_yaml_manages_only_its_sections(std_url, tmp_path):
    state = tmp_path / "state.toml"
    state.write_text(STATE)
    assert kt(std_url, "apply", str(state)).exit_code == 0
    small = tmp_path / "small.yaml"
    small.write_text(YAML)
    steps = kt(std_url, "apply", str(small)).json()["steps"]
    # subscribers: 1002 and 1003 go; dispatcher set 1 goes, set 2 comes; the rest stays
    assert sorted((s["action"], s["what"]) for s in steps) == sorted([
        ("remove", "1002@example.com"), ("remove", "1003@example.com"),
        ("remove", "setid=1 destination=sip:10.0.0.30:5060"),
        ("add", "setid=2 destination=sip:10.0.0.31:5060")])  # fmt: skip
    assert _rows(std_url, "SELECT COUNT(*) AS n FROM address")[0]["n"] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[nonsense]]\na = 1\n", "unknown section"),
        ('[[subscribers]]\nuser = "9@example.com"\npassword_env = "KT_NOT_SET_ANYWHERE"\n',
         "KT_NOT_SET_ANYWHERE is not set"),
        ('[[address]]\ngroup = 1\nip = "300.1.1.1"\n', "not an IPv4"),
        ('[[domains]]\ndomain = "a.example"\n[[domains]]\ndomain = "a.example"\n', "twice"),
        ('[[domains]]\ndomain = "a.example"\n[[domains]]\ndomain = "A.Example"\n', "twice"),
        ("[[dispatcher]]\nset = 1\nuri = \"10.0.0.1\"\n", "not a sip:"),
        ("not toml at all [", "not valid TOML"),
        ('[[dialplan]]\ndpid = 1\nmatch_op = 1\nmatch_exp = "(unclosed"\n', "dialplan #1"),
        ("[[trusted]]\nsrc_ip = \"10.0.0.1\"\nproto = \"any\"\nfrom_pattern = '^sip:\\(a'\n",
         "not a valid POSIX regular expression"),
    ],
)
def test_bad_files_are_config_errors(tmp_path, text, message):
    url = "sqlite:///" + str(tmp_path / "k.sqlite")
    state = tmp_path / "bad.toml"
    state.write_text(text)
    res = kt(url, "apply", str(state))
    assert res.exit_code == 8, res.stdout
    assert message in res.json()["error"]["message"]
    assert kt(url, "apply", str(tmp_path / "missing.toml")).exit_code == 3


def test_one_transaction(tmp_path):
    url = "sqlite:///" + str(tmp_path / "k.sqlite")
    assert invoke("--db", url, "domain", "add", "keep.example", "--no-reload").exit_code == 0
    state = tmp_path / "state.toml"
    state.write_text('domains = []\n[[subscribers]]\nuser = "1@example.com"\npassword = "x"\n')
    from kamtool.db.connect import connected

    with connected(url) as db:  # a trigger makes the subscriber insert fail
        db.execute_sql("CREATE TRIGGER no_subs BEFORE INSERT ON subscriber "
                       "BEGIN SELECT RAISE(ABORT, 'refused'); END")  # fmt: skip
    res = kt(url, "apply", str(state))
    assert res.exit_code != 0
    # the domain removal that came first was rolled back with it
    assert [r["domain"] for r in _rows(url, "SELECT domain FROM domain")] == ["keep.example"]
