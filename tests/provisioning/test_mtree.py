"""mtree: the prefix-tree engine (Kamailio's walk) and `kamtool mtree` on each engine
(Kamailio's own answers for the same rows: test_modules_kamailio.py)."""

from __future__ import annotations

import pytest

from kamtool.core.mtree_engine import Mtree, MtreeError
from tests.provisioning.conftest import rows
from tests.support.cli import invoke


def trees(*rows: tuple[str, str, str], char_list: str = "0123456789") -> Mtree:
    return Mtree.from_rows(
        [dict(zip(("tname", "tprefix", "tvalue"), r, strict=True)) for r in rows], char_list
    )


def test_longest_prefix_all_prefixes_and_kamailios_walk():
    t = trees(("t", "49", "de"), ("t", "4930", "berlin"), ("t", "1", "us"), ("u", "4", "x"))
    assert t.match("t", "493012").value == "berlin"
    assert t.match("t", "4931").prefix == "49"
    assert t.match("t", "4") is None
    assert [m.prefix for m in t.match_all("t", "49301")] == ["49", "4930"]
    assert t.match("u", "4930").value == "x"
    assert t.match("t", "2") is None
    # a character outside char_list inside the tree: no match at all ...
    assert t.match("t", "49a") is None
    # ... but after leaving the tree it is never looked at
    assert t.match("t", "1a").value == "us"
    assert t.match("nope", "49") is None


def test_rows_kamailio_refuses_or_skips():
    with pytest.raises(MtreeError, match="outside the mtree char_list"):
        trees(("t", "49x", "v"))
    with pytest.raises(MtreeError, match="twice"):
        trees(("t", "49", "a"), ("t", "49", "b"))
    assert trees(("t", "+49", "v"), char_list="0123456789+").match("t", "+491").value == "v"
    assert "t" not in trees(("t", "", "v"), ("t", "1", ""))  # skipped as Kamailio does


def kt(url: str, *args: str, stdin: str = ""):
    return invoke("--db", url, *args, stdin=stdin)


def ok(url: str, *args: str, stdin: str = ""):
    r = kt(url, *args, stdin=stdin)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


def test_add_show_rm_and_bad_input(url):
    ok(url, "mtree", "add", "gw", "4930", "berlin")
    ok(url, "mtree", "add", "gw", "49", "de")
    ok(url, "mtree", "add", "gw2", "+1", "us", "--char-list", "0123456789+")
    assert rows(url, "mtrees", "tname, tprefix, tvalue") == [
        ("gw", "4930", "berlin"), ("gw", "49", "de"), ("gw2", "+1", "us"),
    ]  # fmt: skip
    shown = ok(url, "--json", "mtree", "show", "gw").json()
    assert [(r["tprefix"], r["tvalue"]) for r in shown] == [("49", "de"), ("4930", "berlin")]
    dup = kt(url, "--json", "mtree", "add", "gw", "49", "other")
    assert dup.exit_code == 4
    bad = kt(url, "mtree", "add", "gw", "49a", "x")
    assert bad.exit_code == 2 and "outside the mtree char_list" in bad.stderr
    assert kt(url, "mtree", "add", "gw", "1" * 33, "x").exit_code == 2
    assert kt(url, "mtree", "add", "", "1", "x").exit_code == 2
    assert kt(url, "mtree", "rm", "gw").exit_code == 2  # neither prefix nor --all
    assert kt(url, "mtree", "rm", "gw", "7").exit_code == 3
    ok(url, "mtree", "rm", "gw", "49")
    ok(url, "mtree", "rm", "gw", "--all")
    assert rows(url, "mtrees", "tname") == [("gw2",)]


def test_import_and_offline_match(url):
    csv = "tname,tprefix,tvalue\n" + "".join(f"cc,{n},v{n}\n" for n in range(1, 200))
    assert ok(url, "--json", "mtree", "import", "-", stdin=csv).json()["count"] == 199
    again = kt(url, "mtree", "import", "-", stdin="tname,tprefix,tvalue\ncc,1,x\ncc,5000,y\n")
    assert again.exit_code == 4 and "line 2: prefix 1 is in tree cc already" in again.stderr
    bad = kt(url, "mtree", "import", "-", stdin="tname,tprefix,tvalue\ncc,7000,a\ncc,7000,b\n")
    assert bad.exit_code == 2 and "line 3" in bad.stderr
    assert len(rows(url, "mtrees", "id")) == 199
    r = ok(url, "--json", "mtree", "match", "--offline", "cc", "1234").json()
    assert r == [{"PREFIX": "123", "TVALUE": "v123"}]
    r = ok(url, "--json", "mtree", "match", "--offline", "--all", "cc", "1234").json()
    assert [m["PREFIX"] for m in r] == ["1", "12", "123"]
    assert kt(url, "mtree", "match", "--offline", "cc", "0").exit_code == 3
    assert kt(url, "mtree", "match", "--offline", "zz", "1").exit_code == 3
