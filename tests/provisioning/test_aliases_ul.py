"""kamctlrc ``ALIASES_TYPE="UL"``: `kamtool alias` keeps aliases in the running server's
``aliases`` usrloc table, as ``kamctl alias`` does, against a real Kamailio 5.6 whose cfg
uses that table; kamtool and kamctl (same kamctlrc) see each other's aliases."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.support.cli import invoke
from tests.support.kamailio import (
    CONFIG,
    Kamailio,
    create_sqlite_with_kamailio_schema,
    require_kamailio,
)

pytestmark = pytest.mark.kamailio

# The reference cfg plus a route that uses the "aliases" table: usrloc registers a table
# only when the cfg names it, and ul.* answer "Domain table not found" for any other.
ALIASES_ROUTE = '\nroute[ALIASES] {\n\tlookup("aliases");\n}\n'


def aliases_db(path) -> str:
    """Kamailio's SQLite schema with 1001..1003, and an ``aliases`` table usrloc 5.6 takes.

    Kamailio 5.6's own schema files create ``aliases`` at version 8 while its usrloc
    wants the location table's version 9, so a cfg using "aliases" does not start on a
    database kamdbctl made: ``kamtool dbctl migrate`` sets the version usrloc takes.
    """
    create_sqlite_with_kamailio_schema(path)
    r = invoke("--db", "sqlite:///" + str(path), "dbctl", "migrate")
    assert r.exit_code == 0, r.stderr
    url = "sqlite:///" + str(path)
    for n in ("1001", "1002", "1003"):
        r = invoke("--db", url, "--domain", "127.0.0.1", "add", n, f"secret{n}")
        assert r.exit_code == 0, r.stderr
    return url


@pytest.fixture
def kam(tmp_path, monkeypatch):
    require_kamailio()
    monkeypatch.delenv("KAMTOOL_RPC_URL")  # the kamctlrc's RPCFIFO, as kamctl uses
    cfg = tmp_path / "kamailio-aliases.cfg"
    cfg.write_text(CONFIG.read_text() + ALIASES_ROUTE)
    url = aliases_db(tmp_path / "kamailio.sqlite")
    with Kamailio(tmp_path / "k", db=url, seed=False, config=cfg) as k:
        with k.kamctlrc.open("a") as f:
            f.write('ALIASES_TYPE="UL"\n')
        yield k


def kt(k: Kamailio, *args: str):
    return invoke("--kamctlrc", str(k.kamctlrc), *args)


def ok(k: Kamailio, *args: str):
    r = kt(k, *args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


def test_kamtool_alias_add_lands_in_usrloc_and_kamctl_shows_it(kam):
    added = ok(kam, "--json", "alias", "add", "5002", "1002").json()
    assert added["rows"] == [
        {"alias": "5002@127.0.0.1", "user": "1002@127.0.0.1", "contact": "sip:1002@127.0.0.1"}
    ]
    # in the server's aliases table, permanent, as kamctl's ul.add makes it ...
    found = kam.rpc("ul.lookup", "aliases", "5002")
    (contact,) = [c["Contact"] for c in found["Contacts"]]
    assert contact["Address"] == "sip:1002@127.0.0.1"
    assert contact["Expires"] == "permanent" and contact["Q"] == 1
    # ... not in dbaliases
    conn = sqlite3.connect(kam.db_file)
    assert conn.execute("SELECT count(*) FROM dbaliases").fetchone() == (0,)
    conn.close()
    shown = json.loads(kam.kamctl("alias", "show", "5002").stdout)["result"]
    assert shown["AoR"] == "5002"
    assert [c["Contact"]["Address"] for c in shown["Contacts"]] == ["sip:1002@127.0.0.1"]
    # kamtool lists it (use_domain 0: the server keeps the user part of the alias)
    rows = ok(kam, "--json", "alias", "show").json()
    assert [(r["alias"], r["user"]) for r in rows] == [("5002", "1002@127.0.0.1")]
    assert ok(kam, "--json", "alias", "show", "1001").json() == []
    # as kamctl add with ALIASES_TYPE=UL: no subscriber named like a usrloc alias
    taken = kt(kam, "add", "5002", "pw")
    assert taken.exit_code != 0
    assert "already exists as an alias of '1002@127.0.0.1'" in taken.stderr
    ok(kam, "add", "5010", "pw")


def test_kamctl_alias_add_is_seen_and_removed_by_kamtool(kam):
    # kamctl 5.6's duplicate check (ALIASES_TYPE=UL) looks for a "404" line that the
    # RPC reply never has, so it refuses new aliases; it adds them without the setting.
    plain = kam.kamctlrc.read_text().replace('ALIASES_TYPE="UL"\n', "")
    refused = kam.kamctl("alias", "add", "5003", "sip:1003@127.0.0.1", check=False)
    assert refused.returncode != 0
    kam.kamctlrc.write_text(plain)
    kam.kamctl("alias", "add", "5003", "sip:1003@127.0.0.1")
    kam.kamctlrc.write_text(plain + 'ALIASES_TYPE="UL"\n')

    rows = ok(kam, "--json", "alias", "show", "1003").json()
    assert [(r["alias"], r["user"]) for r in rows] == [("5003", "1003@127.0.0.1")]
    assert ok(kam, "--json", "alias", "show", "5003").json() == rows  # by the alias
    dup = kt(kam, "alias", "add", "5003", "1001")
    assert dup.exit_code != 0 and "already points to 'sip:1003@127.0.0.1'" in dup.stderr
    clash = kt(kam, "alias", "add", "1002", "1001")  # a subscriber's name
    assert clash.exit_code != 0 and "is a subscriber" in clash.stderr
    nobody = kt(kam, "alias", "add", "5009", "nosuchuser")
    assert nobody.exit_code != 0 and "no subscriber" in nobody.stderr

    ok(kam, "alias", "rm", "5003")
    assert (
        "AOR not found"
        in kam.kamctl("alias", "show", "5003", check=False).stdout
        + kam.kamctl("alias", "show", "5003", check=False).stderr
    )
    assert ok(kam, "--json", "alias", "show").json() == []
    gone = kt(kam, "alias", "rm", "5003")
    assert gone.exit_code != 0 and "non-existent alias" in gone.stderr


def test_a_server_without_the_aliases_table_gets_a_clear_error(tmp_path, monkeypatch):
    require_kamailio()
    monkeypatch.delenv("KAMTOOL_RPC_URL")
    with Kamailio(tmp_path) as k:
        with k.kamctlrc.open("a") as f:
            f.write('ALIASES_TYPE="UL"\n')
        r = kt(k, "alias", "show", "1001")
        assert r.exit_code != 0
        r = kt(k, "alias", "add", "5002", "1002")
        assert r.exit_code != 0 and "no usrloc table 'aliases'" in r.stderr


def test_kamtool_serve_has_no_aliases_table_so_ul_aliases_are_refused(tmp_path, monkeypatch):
    """kamtool serve keeps usrloc's "location" table only (its alias lookups are
    alias_db's): with ALIASES_TYPE=UL the alias commands say so; DB aliases still work."""
    from tests.support.kamtool_proxy import KamtoolProxy

    monkeypatch.delenv("KAMTOOL_RPC_URL")
    with KamtoolProxy(tmp_path / "kt") as p:
        rc = tmp_path / "kamctlrc"
        common = (
            f"SIP_DOMAIN=127.0.0.1\nCTLENGINE=RPCFIFO\nRPCFIFOPATH={p.fifo_path}\n"
            f"DBENGINE=SQLITE\nDB_PATH={p.db_file}\n"
        )
        rc.write_text(common + 'ALIASES_TYPE="UL"\n')
        for args in (("alias", "add", "5002", "1002"), ("alias", "show"), ("alias", "rm", "5001")):
            r = invoke("--kamctlrc", str(rc), *args)
            assert r.exit_code == 2, (args, r.stdout, r.stderr)
            assert "no usrloc table 'aliases'" in r.stderr
        rc.write_text(common + 'ALIASES_TYPE="DB"\n')
        r = invoke("--kamctlrc", str(rc), "--json", "alias", "show")
        assert r.exit_code == 0, r.stderr
        assert [(a["alias"], a["user"]) for a in r.json()] == [("5001@127.0.0.1", "1001@127.0.0.1")]
