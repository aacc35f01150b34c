"""`kamtool dbctl` on every engine: create/show/drop/reinit, backup/restore across engines,
copy, migrate."""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from kamtool.config import redact_url
from kamtool.db import schema
from kamtool.db.connect import connected, read_versions
from tests.support.cli import invoke

ALL = 63


def kt(url, *args):
    """Run ``kamtool --db URL --json ARGS`` and return the result."""
    return invoke("--db", url, "--json", *args)


def ok(r):
    assert r.exit_code == 0, r.stdout + r.stderr
    return r.json()


def test_create_show_drop_reinit(db_url):
    created = ok(kt(db_url, "dbctl", "create", "--group", "standard"))
    assert len(created["tables"]) == 29 and created["groups"] == ["standard"]

    shown = ok(kt(db_url, "dbctl", "show"))
    assert shown["groups"] == {"standard": True, "presence": False, "extra": False}
    by_name = {t["table"]: t for t in shown["tables"]}
    assert by_name["subscriber"] == {
        "table": "subscriber",
        "group": "standard",
        "exists": True,
        "rows": 0,
        "version": 7,
        "expected_version": 7,
        "status": "ok",
    }
    assert by_name["presentity"]["status"] == "missing"
    assert shown["mismatches"] == []

    again = kt(db_url, "dbctl", "create", "-g", "standard")
    assert again.exit_code == 4 and again.json()["error"]["code"] == "already_exists"

    ok(kt(db_url, "dbctl", "create", "-g", "presence", "-g", "extra"))
    with connected(db_url, auto_create=False) as db:
        assert read_versions(db) == schema.expected_versions()
        db.execute_sql("INSERT INTO domain (domain) VALUES ('example.com')")
        db.execute_sql("UPDATE version SET table_version = 1 WHERE table_name = 'dispatcher'")

    shown = ok(kt(db_url, "dbctl", "show"))
    assert [m["table"] for m in shown["mismatches"]] == ["dispatcher"]
    assert {t["table"]: t["rows"] for t in shown["tables"]}["domain"] == 1

    refused = kt(db_url, "dbctl", "reinit")  # no terminal: needs --yes
    assert refused.exit_code == 2 and refused.json()["error"]["code"] == "aborted"
    with connected(db_url, auto_create=False) as db:
        db.execute_sql(
            "INSERT INTO xcap (username, domain, doc, doc_type, etag, source, doc_uri, port)"
            " VALUES ('u', 'd', 'x', 1, 'e', 1, 'uri', 0)"
        )
    ok(kt(db_url, "dbctl", "reinit", "--yes", "-g", "presence"))
    shown = ok(kt(db_url, "dbctl", "show"))
    rows = {t["table"]: t["rows"] for t in shown["tables"]}
    assert rows["xcap"] == 0 and rows["domain"] == 1  # only the presence group was emptied
    assert [m["table"] for m in shown["mismatches"]] == ["dispatcher"]  # others untouched

    dropped = ok(kt(db_url, "dbctl", "drop", "--yes", "-g", "extra"))
    assert len(dropped["tables"]) == 27
    with connected(db_url, auto_create=False) as db:
        assert "htable" not in db.get_tables() and "htable" not in read_versions(db)
        assert read_versions(db)["presentity"] == 5
    dropped = ok(kt(db_url, "dbctl", "drop", "--yes", "--keep-database"))
    assert len(dropped["tables"]) == ALL - 27
    with connected(db_url, auto_create=False) as db:
        assert db.get_tables() == []


def test_drop_drops_the_database_as_kamdbctl_does(db_url):
    """`dbctl drop` without --group drops the whole database (MySQL/PostgreSQL) or removes
    the SQLite file, as kamdbctl drop does; it used to leave the empty database."""
    ok(kt(db_url, "dbctl", "create", "-g", "standard"))
    dropped = ok(kt(db_url, "dbctl", "drop", "--yes"))
    assert dropped["dropped_database"] is True
    if db_url.startswith("sqlite"):
        assert not Path(db_url.removeprefix("sqlite:///")).exists()
        assert kt(db_url, "dbctl", "show").exit_code == 3
    else:
        assert kt(db_url, "dbctl", "show").exit_code == 5  # no such database any more
    # dropping it again (or a misspelt name) is "not found", not a second success
    again = kt(db_url, "dbctl", "drop", "--yes")
    assert again.exit_code == 3, again.stdout + again.stderr
    assert again.json()["error"]["code"] == "not_found"


def test_a_dropped_table_is_reported_and_recreated(db_url):
    """`acc_cdrs` dropped by hand: show and migrate --dry-run say so (migrate exits 9),
    `dbctl create --missing` brings back that table alone, empty, with its version row."""
    ok(kt(db_url, "dbctl", "create"))
    with connected(db_url, auto_create=False) as db:
        db.execute_sql("INSERT INTO domain (domain) VALUES ('kept.example')")
        db.execute_sql("DROP TABLE acc_cdrs")
        db.execute_sql("DELETE FROM version WHERE table_name = 'acc_cdrs'")
    shown = ok(kt(db_url, "dbctl", "show"))
    assert shown["missing_tables"] == ["acc_cdrs"]
    text = invoke("--db", db_url, "dbctl", "show")
    assert "acc_cdrs" in text.stderr and "create --missing" in text.stderr
    plan = kt(db_url, "dbctl", "migrate", "--dry-run")
    assert plan.exit_code == 9 and plan.json()["up_to_date"] is False
    assert [m["table"] for m in plan.json()["missing_tables"]] == ["acc_cdrs"]
    dry = invoke("--db", db_url, "dbctl", "migrate", "--dry-run")
    assert "acc_cdrs" in dry.stderr and "every table" not in dry.stderr
    made = ok(kt(db_url, "dbctl", "create", "--missing"))
    assert made["tables"] == ["acc_cdrs"]
    with connected(db_url, auto_create=False) as db:
        assert read_versions(db) == schema.expected_versions()
        assert list(db.execute_sql("SELECT domain FROM domain")) == [("kept.example",)]
    assert ok(kt(db_url, "dbctl", "show"))["missing_tables"] == []
    assert ok(kt(db_url, "dbctl", "migrate"))["up_to_date"] is True
    again = ok(kt(db_url, "dbctl", "create", "--missing"))
    assert again["tables"] == []


def test_create_makes_the_server_database_and_users(db_url):
    """On MySQL/PostgreSQL `create` makes the database itself and, with --users, the users."""
    if db_url.startswith("sqlite"):
        r = ok(kt(db_url, "dbctl", "create", "--users", "-g", "standard"))
        assert r["users"] == [] and r["database_created"] is False
        path = Path(db_url.removeprefix("sqlite:///"))
        assert path.exists()
        ok(kt(db_url, "dbctl", "drop", "--database", "--yes"))
        assert not path.exists()
        return
    import uuid

    from kamtool.db.connect import parse_url
    from kamtool.db.server import drop_database

    suffix = uuid.uuid4().hex[:8]
    url = db_url.rsplit("/", 1)[0] + f"/kt_new_{suffix}"
    rw, ro = f"ktrw_{suffix}", f"ktro_{suffix}"
    try:
        r = ok(kt(url, "dbctl", "create", "-g", "standard", "--users", "--rw-user", rw,
                  "--rw-password", "rwpw", "--ro-user", ro, "--ro-password", "ropw"))  # fmt: skip
        assert r["database_created"] is True and {u["user"] for u in r["users"]} == {rw, ro}
        scheme = db_url.split("://", 1)[0]
        host = "127.0.0.1:3306" if scheme == "mysql" else "127.0.0.1:5432"
        # the read-write user can write, the read-only user can only read
        with connected(f"{scheme}://{rw}:rwpw@{host}/kt_new_{suffix}", auto_create=False) as db:
            db.execute_sql("INSERT INTO domain (domain) VALUES ('rw.example')")
        with connected(f"{scheme}://{ro}:ropw@{host}/kt_new_{suffix}", auto_create=False) as db:
            assert list(db.execute_sql("SELECT domain FROM domain")) == [("rw.example",)]
            with pytest.raises(Exception, match="(?i)denied|permission"):
                db.execute_sql("INSERT INTO domain (domain) VALUES ('ro.example')")
        ok(kt(url, "dbctl", "create", "-g", "extra"))  # later tables get the grants too
        with connected(f"{scheme}://{ro}:ropw@{host}/kt_new_{suffix}", auto_create=False) as db:
            assert list(db.execute_sql("SELECT COUNT(*) FROM htable")) == [(0,)]
        ok(kt(url, "dbctl", "drop", "--database", "--yes"))
        assert kt(url, "dbctl", "show").exit_code == 5  # the database is gone
    finally:
        drop_database(parse_url(url), parse_url(db_url))
        _drop_users(db_url, rw, ro)


SERVERS = {
    "mysql": ("MYSQL", "127.0.0.1", "3306", "root", "mysql://root@127.0.0.1:3306/mysql"),
    "postgres": ("PGSQL", "127.0.0.1", "5432", "postgres",
                 "postgres://postgres@127.0.0.1:5432/postgres"),
}  # fmt: skip


@pytest.mark.parametrize(
    "engine", [pytest.param(e, marks=getattr(pytest.mark, e)) for e in SERVERS]
)
def test_create_users_for_a_url_whose_user_does_not_exist_yet(engine, tmp_path):
    """kamdbctl's own case: the kamctlrc names a read-write user that does not exist yet.
    `dbctl create --users` makes the database and users as DBROOTUSER first, then the
    tables (it used to make the tables over the new user's URL first: exit 5); `drop`
    drops as DBROOTUSER too."""
    import uuid

    from kamtool.db.connect import parse_url
    from kamtool.db.server import drop_database

    dbengine, host, port, root, admin_url = SERVERS[engine]
    suffix = uuid.uuid4().hex[:8]
    name, rw, ro = f"kt_new_{suffix}", f"ktrw_{suffix}", f"ktro_{suffix}"
    rc = tmp_path / "kamctlrc"
    rc.write_text(
        f"SIP_DOMAIN=example.org\nDBENGINE={dbengine}\nDBHOST={host}\nDBPORT={port}\nDBNAME={name}\n"
        f"DBRWUSER={rw}\nDBRWPW=rwpw\nDBROUSER={ro}\nDBROPW=ropw\nDBROOTUSER={root}\n"
    )
    url = f"{engine}://{rw}:rwpw@{host}:{port}/{name}"
    try:
        r = invoke("--kamctlrc", rc, "--json", "dbctl", "create", "-g", "standard", "--users")
        assert r.exit_code == 0, r.stdout + r.stderr
        assert r.json()["database_created"] is True and r.json()["url"] == redact_url(url)
        assert {u["user"] for u in r.json()["users"]} == {rw, ro}
        assert invoke("--kamctlrc", rc, "add", "1001", "pw").exit_code == 0  # as DBRWUSER
        ro_url = f"{engine}://{ro}:ropw@{host}:{port}/{name}"
        with connected(ro_url, auto_create=False) as db:
            assert list(db.execute_sql("SELECT username FROM subscriber")) == [("1001",)]
            with pytest.raises(Exception, match="(?i)denied|permission"):
                db.execute_sql("DELETE FROM subscriber")
        # the same with --admin-url, the users existing already: nothing new to make
        other = f"{engine}://{rw}:rwpw@{host}:{port}/{name}_2"
        r = invoke("--db", other, "--json", "dbctl", "create", "-g", "standard", "--users",
                   "--rw-user", rw, "--ro-user", ro, "--admin-url", admin_url)  # fmt: skip
        assert r.exit_code == 0, r.stdout + r.stderr
        assert r.json()["database_created"] is True
        assert invoke("--db", other, "add", "1002@example.org", "pw").exit_code == 0
        assert invoke("--kamctlrc", rc, "--json", "dbctl", "drop", "--yes").exit_code == 0
        assert invoke("--kamctlrc", rc, "dbctl", "show").exit_code == 5  # gone
    finally:
        drop_database(parse_url(url), parse_url(admin_url))
        drop_database(parse_url(url + "_2"), parse_url(admin_url))
        _drop_users(admin_url, rw, ro)


def _drop_users(admin_url, *users):
    from kamtool.db.connect import open_database

    db = open_database(admin_url)
    try:
        for user in users:
            if admin_url.startswith("mysql"):
                for host in ("localhost", "127.0.0.1"):
                    db.execute_sql("DROP USER IF EXISTS %s@%s", (user, host))
            else:
                db.execute_sql(f'DROP OWNED BY "{user}"') if _pg_role(db, user) else None
                db.execute_sql(f'DROP ROLE IF EXISTS "{user}"')
    finally:
        db.close()


def _pg_role(db, user):
    return db.execute_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()


# --------------------------------------------------------------------------- data moves

LOCAL_DT = datetime(2026, 11, 26, 12, 46, 15)


def _seed(url):
    """A SQLite source with rows of every kind of value (made by kamtool).

    Only the standard and presence groups: fewer tables to create on the targets.
    """
    from kamtool.core import dbctl

    dbctl.create(url, ["standard", "presence"])
    from kamtool.db.models import Acc, Location, Presentity, Silo, Subscriber, Xcap

    with connected(url, auto_create=False):
        rows = [(f"u{i}", "example.com", "pw", "h") for i in range(1200)]  # several batches
        fields = [Subscriber.username, Subscriber.domain, Subscriber.password, Subscriber.ha1]
        Subscriber.insert_many(rows, fields=fields).execute()
        Subscriber.create(username="ünï", domain="exämple.com", password="'; --", ha1="x")
        Location.create(ruid="uloc-1", username="1001", contact="sip:1001@10.0.0.1",
                        expires=LOCAL_DT, q=-1.0, methods=None, callid="c1")  # fmt: skip
        Acc.create(method="INVITE", callid="a", sip_code="200", sip_reason="OK", time=LOCAL_DT)
        Silo.create(src_addr="a", dst_addr="b", username="u", domain="d", body=b"\x00\xffbin")
        Presentity.create(username="u", domain="d", event="presence", etag="e", expires=1,
                          received_time=1, body=b"<xml/>", sender="s")  # fmt: skip
        Xcap.create(username="u", domain="d", doc=b"\x01" * 70000, doc_type=1, etag="e",
                    source=1, doc_uri="x", port=0)  # fmt: skip
        Subscriber.delete().where(Subscriber.username == "u5").execute()  # a gap in the ids


def _snapshot(url):
    from kamtool.db.models import Acc, Location, Presentity, Silo, Subscriber, Xcap

    with connected(url, auto_create=False):
        return {
            "subscriber": list(Subscriber.select().order_by(Subscriber.id).tuples()),
            "location": list(Location.select().tuples()),
            "acc": list(Acc.select().tuples()),
            "silo": list(Silo.select().tuples()),
            "presentity": list(Presentity.select().tuples()),
            "xcap": list(Xcap.select().tuples()),
        }


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory):
    """Read-only source database shared by the backup and copy tests."""
    url = "sqlite:///" + str(tmp_path_factory.mktemp("source") / "source.sqlite")
    _seed(url)
    return url


def test_backup_restores_into_every_engine(seeded_sqlite, db_url, tmp_path):
    backup = tmp_path / "kamailio.jsonl.gz"
    b = ok(kt(seeded_sqlite, "dbctl", "backup", str(backup)))
    assert b["rows"] == 1200 + 5 and b["per_table"]["subscriber"] == 1200
    with gzip.open(backup, "rt") as fh:
        header = json.loads(fh.readline())
    assert header["format"] == "kamtool-backup" and header["engine"] == "sqlite"
    assert header["tables"]["location"]["version"] == 9

    r = ok(kt(db_url, "dbctl", "restore", str(backup)))
    assert r["rows"] == b["rows"]
    expected = _snapshot(seeded_sqlite)
    assert _snapshot(db_url) == expected
    assert expected["location"][0][7] == LOCAL_DT  # expires survived as the same local time

    # ids continue after the restored ones (PostgreSQL's sequence was moved on)
    from kamtool.db.models import Subscriber

    with connected(db_url, auto_create=False):
        new = Subscriber.create(username="after", domain="example.com")
        assert new.id == max(row[0] for row in expected["subscriber"]) + 1

    again = kt(db_url, "dbctl", "restore", str(backup))  # tables hold rows now
    assert again.exit_code == 4
    ok(kt(db_url, "dbctl", "restore", str(backup), "--replace", "--yes"))
    assert _snapshot(db_url) == expected


def test_copy_to_another_engine(seeded_sqlite, db_url):
    r = ok(kt(seeded_sqlite, "dbctl", "copy", "--to", db_url))
    assert r["per_table"]["subscriber"] == 1200
    assert _snapshot(db_url) == _snapshot(seeded_sqlite)
    refused = kt(seeded_sqlite, "dbctl", "copy", "--to", db_url)
    assert refused.exit_code == 4


def test_restore_rejects_bad_files(tmp_path, sqlite_url):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    r = kt(sqlite_url, "dbctl", "restore", str(bad))
    assert r.exit_code == 2 and "not a kamtool backup" in r.json()["error"]["message"]
    missing = kt(sqlite_url, "dbctl", "restore", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 3
    old = tmp_path / "old.jsonl"
    header = {"format": "kamtool-backup", "format_version": 1, "engine": "sqlite",
              "tables": {"location": {"version": 8, "rows": 0, "columns": ["id"]}}}  # fmt: skip
    old.write_text(json.dumps(header) + "\n")
    r = kt(sqlite_url, "dbctl", "restore", str(old))
    assert r.exit_code == 9 and "migrate" in r.json()["error"]["hint"]


# --------------------------------------------------------------------------- migrate


def test_migrate_upgrades_additive_changes_and_reports_the_rest(db_url):
    ok(kt(db_url, "dbctl", "create", "-g", "standard"))
    with connected(db_url, auto_create=False) as db:
        # an older location table: no `partition` column, no expires index, version 8
        q = "`" if db_url.startswith("mysql") else '"'
        db.execute_sql(f"ALTER TABLE location DROP COLUMN {q}partition{q}")
        idx = "expires_idx ON location" if db_url.startswith("mysql") else "location_expires_idx"
        db.execute_sql(f"DROP INDEX {idx}")
        db.execute_sql("UPDATE version SET table_version = 8 WHERE table_name = 'location'")
        # a version kamtool cannot know how to reach
        db.execute_sql("UPDATE version SET table_version = 99 WHERE table_name = 'dispatcher'")
        # an older domain table with a narrower column: reported, never altered
        db.execute_sql("DROP TABLE domain")
        db.execute_sql("CREATE TABLE domain (id INTEGER PRIMARY KEY, domain VARCHAR(32) NOT NULL,"
                       " did VARCHAR(64), last_modified TIMESTAMP NULL)")  # fmt: skip
        db.execute_sql("UPDATE version SET table_version = 1 WHERE table_name = 'domain'")

    plan = kt(db_url, "dbctl", "migrate", "--dry-run")
    assert plan.exit_code == 9  # dispatcher cannot be upgraded
    data = plan.json()
    (loc,) = data["upgraded"]
    assert (loc["table"], loc["found"], loc["expected"]) == ("location", 8, 9)
    assert loc["add_columns"] == ["partition"] and loc["add_indexes"] == ["expires_idx"]
    dom, disp = data["not_upgradable"]  # in kamdbctl order
    assert disp["table"] == "dispatcher" and "newer" in disp["problems"][0]
    assert dom["table"] == "domain"
    assert dom["problems"] == ["column domain is VARCHAR(32), 5.6 has VARCHAR(64)"]

    assert kt(db_url, "dbctl", "migrate").exit_code == 9
    shown = ok(kt(db_url, "dbctl", "show"))
    assert [m["table"] for m in shown["mismatches"]] == ["domain", "dispatcher"]
    with connected(db_url, auto_create=False) as db:
        assert "partition" in [c.name for c in db.get_columns("location")]
        db.execute_sql("UPDATE version SET table_version = 4 WHERE table_name = 'dispatcher'")
        db.execute_sql("DROP TABLE domain")
    from kamtool.db import ddl, schema

    with connected(db_url, auto_create=False) as db:
        ddl.create_tables(db, tables=[schema.table("domain")])
    done = ok(kt(db_url, "dbctl", "migrate"))
    assert done["up_to_date"] is True


def test_migrate_computes_the_hash_column_it_adds(db_url):
    """An older subscriber table without ``ha1b``: migrate adds it and computes it from the
    stored passwords (kamctl's H(user@domain:domain:password)); left empty, every user
    would fail digest where Kamailio reads ha1b."""
    import hashlib

    ok(kt(db_url, "dbctl", "create", "-g", "standard"))
    with connected(db_url, auto_create=False) as db:
        db.execute_sql("INSERT INTO subscriber (username, domain, password, ha1, ha1b) "
                       "VALUES ('1001', 'example.com', 'pw1', 'x', 'y')")  # fmt: skip
        db.execute_sql("INSERT INTO subscriber (username, domain, password, ha1, ha1b) "
                       "VALUES ('1002', 'example.com', '', 'h', 'hb')")  # fmt: skip
        db.execute_sql("ALTER TABLE subscriber DROP COLUMN ha1b")
        db.execute_sql("UPDATE version SET table_version = 6 WHERE table_name = 'subscriber'")
    done = ok(kt(db_url, "dbctl", "migrate"))
    assert [t["table"] for t in done["upgraded"]] == ["subscriber"]
    with connected(db_url, auto_create=False) as db:
        rows = dict(db.execute_sql("SELECT username, ha1b FROM subscriber").fetchall())
    want = hashlib.md5(b"1001@example.com:example.com:pw1").hexdigest()  # kamctl's ha1b
    assert rows == {"1001": want, "1002": ""}  # no password stored: nothing to compute


def test_commands_on_a_missing_database_fail_clearly(tmp_path):
    missing = "sqlite:///" + str(tmp_path / "nowhere" / "k.sqlite")
    for args in (["show"], ["backup", str(tmp_path / "b.jsonl")], ["migrate"], ["drop", "--yes"]):
        r = kt(missing, "dbctl", *args)
        assert r.exit_code == 3, args
        assert r.json()["error"]["hint"] == "kamtool dbctl create"
    assert not (tmp_path / "nowhere").exists()  # nothing was created on the way


@pytest.mark.mysql
def test_unknown_server_database_is_unavailable_without_the_password():
    r = kt("mysql://root:hunter2@127.0.0.1:3306/kt_does_not_exist", "dbctl", "show")
    assert r.exit_code == 5 and r.json()["error"]["code"] == "db_unavailable"
    assert "hunter2" not in r.stdout + r.stderr
    r = kt("mysql://root@127.0.0.1:3306/kt_does_not_exist", "dbctl", "show")
    assert r.exit_code == 5 and r.json()["error"]["hint"] == "kamtool dbctl create"


def test_progress_reaches_the_total(seeded_sqlite, tmp_path):
    from kamtool.core import dbctl

    for run in (
        lambda cb: dbctl.backup(seeded_sqlite, tmp_path / "b.jsonl", progress=cb),
        lambda cb: dbctl.restore(f"sqlite:///{tmp_path / 'r.sqlite'}", tmp_path / "b.jsonl",
                                 progress=cb),
        lambda cb: dbctl.copy(seeded_sqlite, f"sqlite:///{tmp_path / 'c.sqlite'}", progress=cb),
    ):  # fmt: skip
        calls: list[tuple[str, int, int]] = []
        run(lambda table, done, total, calls=calls: calls.append((table, done, total)))
        done = [d for _, d, _ in calls]
        assert done == sorted(done) and calls[-1][1] == calls[-1][2] == 1205
        assert {"subscriber", "xcap"} <= {t for t, _, _ in calls}


def test_create_sql_prints_the_same_schema(tmp_path):
    """`dbctl create --sql sqlite` is a script that makes what `dbctl create` makes."""
    from tests.db.introspect import describe

    r = invoke("dbctl", "create", "--sql", "sqlite")
    assert r.exit_code == 0 and r.stdout.count("CREATE TABLE") == ALL
    conn = sqlite3.connect(tmp_path / "script.sqlite")
    conn.executescript(r.stdout)
    conn.close()
    made = f"sqlite:///{tmp_path / 'made.sqlite'}"
    ok(kt(made, "dbctl", "create"))
    with connected(f"sqlite:///{tmp_path / 'script.sqlite'}", auto_create=False) as db:
        from_script = describe(db)
    with connected(made, auto_create=False) as db:
        assert describe(db) == from_script
    assert invoke("dbctl", "create", "--sql", "oracle").exit_code == 2


def test_a_damaged_backup_restores_nothing(seeded_sqlite, tmp_path):
    good = tmp_path / "good.jsonl.gz"
    ok(kt(seeded_sqlite, "dbctl", "backup", str(good)))
    data = good.read_bytes()
    truncated = tmp_path / "truncated.jsonl.gz"
    truncated.write_bytes(data[: len(data) // 2])
    target = f"sqlite:///{tmp_path / 'target.sqlite'}"
    r = kt(target, "dbctl", "restore", str(truncated))
    assert r.exit_code == 2 and r.json()["error"]["code"] == "bad_input"
    assert "truncated.jsonl.gz" in r.json()["error"]["message"]
    with connected(target, auto_create=False) as db:  # checked before anything was made
        assert "subscriber" not in db.get_tables()
    garbage = tmp_path / "garbage.jsonl.gz"
    garbage.write_bytes(b"\x00\x01 not gzip")
    r = kt(target, "dbctl", "restore", str(garbage))
    assert r.exit_code == 2 and r.json()["error"]["code"] == "bad_input"
