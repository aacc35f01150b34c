"""`kamtool dialplan` on the database of each engine: rows, bad input, CSV import, offline
translation (Kamailio's own answers for the same rows: test_modules_kamailio.py)."""

from __future__ import annotations

import pytest

from tests.provisioning.conftest import rows
from tests.support.cli import invoke

COLS = "dpid, pr, match_op, match_exp, match_len, subst_exp, repl_exp, attrs"


def kt(url: str, *args: str, stdin: str = ""):
    return invoke("--db", url, *args, stdin=stdin)


def ok(url: str, *args: str, stdin: str = ""):
    r = kt(url, *args, stdin=stdin)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


def test_add_writes_kamctls_row_and_show_lists_by_dpid_and_priority(url):
    ok(url, "dialplan", "add", "1", "10", "regexp", "^00", "0", "^00(.*)$", "+\\1", "intl")
    ok(url, "dialplan", "add", "1", "5", "0", "112", "", "", "sos")
    ok(url, "dialplan", "add", "0", "1", "fnmatch", "9*")
    assert rows(url, "dialplan", COLS) == [
        (1, 10, 1, "^00", 0, "^00(.*)$", "+\\1", "intl"),
        (1, 5, 0, "112", 0, "", "sos", ""),
        (0, 1, 2, "9*", 0, "", "", ""),
    ]
    shown = ok(url, "--json", "dialplan", "show").json()
    assert [(r["dpid"], r["pr"]) for r in shown] == [(0, 1), (1, 5), (1, 10)]
    assert [r["pr"] for r in ok(url, "--json", "dialplan", "show", "1").json()] == [5, 10]
    again = kt(url, "--json", "dialplan", "add", "1", "5", "0", "112", "", "", "sos")
    assert again.exit_code == 4
    assert again.json()["error"]["code"] == "already_exists"


@pytest.mark.parametrize(
    "args, words",
    [
        (("x", "1", "1", "^1"), "dpid must be a whole number"),
        (("1", "1", "regex2", "^1"), "is not 0/equal, 1/regexp or 2/fnmatch"),
        (("1", "1", "1", "^1("), "not a valid regular expression"),
        (("--", "1", "1", "1", "^1", "-1"), "match_len must be between 0"),
        (("1", "1", "1", "^1", "0", "^1(.)", "\\2"), "refers to group 2"),
        (("1", "1", "0", ""), "match_exp must not be empty"),
        (("1", "1", "0", "1" * 65), "match_exp is longer than 64"),
        (("1", "1", "0", "1", "0", "", "a\tb"), "repl_exp contains control characters"),
    ],
)
def test_bad_rules_exit_2_and_write_nothing(sqlite_db, args, words):
    r = kt(sqlite_db, "dialplan", "add", *args)
    assert r.exit_code == 2, r.stderr
    assert words in r.stderr
    assert rows(sqlite_db, "dialplan", "id") == []


def test_rm_by_priority_dpid_or_id(url):
    ok(url, "dialplan", "add", "1", "1", "0", "a", "", "", "A")
    ok(url, "dialplan", "add", "1", "1", "0", "b", "", "", "B")
    ok(url, "dialplan", "add", "1", "2", "0", "c", "", "", "C")
    ok(url, "dialplan", "add", "2", "1", "0", "d", "", "", "D")
    assert kt(url, "dialplan", "rm", "1").exit_code == 2  # neither PR nor --all
    assert kt(url, "dialplan", "rm", "1", "9").exit_code == 3
    r = ok(url, "--json", "dialplan", "rm", "1", "1").json()
    assert r["count"] == 2 and {x["match_exp"] for x in r["rows"]} == {"a", "b"}
    ok(url, "dialplan", "rm", "1", "--all")
    (left_id,) = rows(url, "dialplan", "id")[0]
    ok(url, "dialplan", "rm", "--id", str(left_id))
    assert rows(url, "dialplan", "id") == []


def test_import_is_all_or_nothing_and_reports_every_bad_line(url, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "dpid;pr;match_op;match_exp;subst_exp;repl_exp\n"
        "1;1;regexp;^0;^0(.*);+49\\1\n"
        "1;2;7;x;;\n"
        "\n"
        "1;3;1;(;;\n"
    )
    r = kt(url, "--json", "dialplan", "import", str(bad))
    assert r.exit_code == 2
    message = r.json()["error"]["message"]
    assert "line 3:" in message and "line 5:" in message and "line 2" not in message
    assert rows(url, "dialplan", "id") == []
    csv = "dpid,match_op,match_exp,repl_exp,attrs\n" + "".join(
        f"7,equal,{n},x{n},a{n}\n" for n in range(300)
    )
    r = ok(url, "--json", "dialplan", "import", "-", stdin=csv).json()
    assert r["count"] == 300
    assert len(rows(url, "dialplan", "id")) == 300
    unknown = kt(url, "dialplan", "import", "-", stdin="dpid,prio\n1,1\n")
    assert unknown.exit_code == 2 and "unknown column(s) in the CSV header: prio" in unknown.stderr


def test_offline_translate_reads_the_table(url):
    ok(url, "dialplan", "add", "1", "10", "1", "^00", "0", "^00(.*)$", "+\\1", "intl")
    ok(url, "dialplan", "add", "1", "20", "1", "^0", "0", "^0(.*)$", "+49\\1", "")
    r = ok(url, "--json", "dialplan", "translate", "--offline", "1", "00331").json()
    assert (r["Output"], r["Attributes"]) == ("+331", "intl")
    r = ok(url, "--json", "dialplan", "translate", "--offline", "1", "0301").json()
    assert r["Output"] == "+49301"
    assert kt(url, "dialplan", "translate", "--offline", "1", "301").exit_code == 3
    missing = kt(url, "dialplan", "translate", "--offline", "5", "301")
    assert missing.exit_code == 3 and "Dialplan ID not matched" in missing.stderr


def test_kamctl_spellings_work(url):
    ok(url, "dialplan", "addrule", "3", "1", "equal", "12", "0", "", "x")
    ok(url, "dialplan", "addrule", "3", "2", "equal", "13", "0", "", "y")
    ok(url, "dialplan", "addrule", "4", "2", "equal", "14", "0", "", "z")
    ok(url, "dialplan", "rmrule", "3", "1")
    ok(url, "dialplan", "rmdpid", "4")
    assert rows(url, "dialplan", "dpid, pr") == [(3, 2)]
