"""kamtool import FILE.csv: same rows as kamtool add, all or nothing, bad lines reported."""

from __future__ import annotations

from tests.provisioning.conftest import reference_rows, rows
from tests.support.cli import invoke

SUB_COLS = "username, domain, password, ha1, ha1b"


def kt(url: str, *args: str, stdin: str = ""):
    return invoke("--db", url, "--domain", "127.0.0.1", *args, stdin=stdin)


def test_import_without_header_writes_kamctls_rows(url, tmp_path):
    csv = tmp_path / "users.csv"
    csv.write_text("1001,secret1001\n1002,secret1002\n\n1003@127.0.0.1,secret1003\n")
    r = kt(url, "--json", "import", str(csv))
    assert r.exit_code == 0, r.stderr
    assert r.json()["count"] == 3
    expected = [
        (x["username"], x["domain"], x["password"], x["ha1"], x["ha1b"])
        for x in reference_rows("subscriber")
    ]
    assert rows(url, "subscriber", SUB_COLS) == expected


def test_import_with_header_domain_column_and_semicolons(sqlite_db):
    text = (
        "password;domain;username\n"
        "pw1;example.com;alice\n"
        "pw2;;bob\n"
        "pw3;example.com;carol@other.org\n"
    )
    r = kt(sqlite_db, "import", "-", stdin=text)
    assert r.exit_code == 0, r.stderr
    assert rows(sqlite_db, "subscriber", "username, domain") == [
        ("alice", "example.com"),
        ("bob", "127.0.0.1"),
        ("carol", "other.org"),
    ]


def test_bad_lines_are_all_reported_and_nothing_is_written(sqlite_db, tmp_path):
    csv = tmp_path / "users.csv"
    csv.write_text("1001,pw\nbad user,pw\n1002,\n1001,again-secret\n1003,pw\n")
    r = kt(sqlite_db, "--json", "import", str(csv))
    assert r.exit_code == 2
    err = r.json()["error"]
    assert err["details"]["problems"] == [
        "line 2: user name 'bad user' contains characters not allowed in a SIP user name",
        "line 3: no password",
        "line 4: '1001@127.0.0.1' is also on line 1",
    ]
    assert "again-secret" not in r.stdout
    assert rows(sqlite_db, "subscriber", "id") == []


def test_existing_users_fail_the_import_unless_skipped(url, tmp_path):
    assert kt(url, "add", "1001", "keep").exit_code == 0
    csv = tmp_path / "users.csv"
    csv.write_text("1001,new\n1002,pw\n")
    r = kt(url, "import", str(csv))
    assert r.exit_code == 4
    assert "line 1: user '1001@127.0.0.1' already exists" in r.stderr
    assert rows(url, "subscriber", "username, password") == [("1001", "keep")]
    r = kt(url, "--json", "import", "--skip-existing", str(csv))
    assert r.exit_code == 0, r.stderr
    assert r.json()["count"] == 1
    assert rows(url, "subscriber", "username, password") == [("1001", "keep"), ("1002", "pw")]


def test_large_import_in_batches(sqlite_db, tmp_path):
    csv = tmp_path / "many.csv"
    csv.write_text("".join(f"{2000 + i},pw{i}\n" for i in range(1000)))
    r = kt(sqlite_db, "--json", "import", str(csv))
    assert r.exit_code == 0, r.stderr
    assert r.json()["count"] == 1000
    assert len(rows(sqlite_db, "subscriber", "id")) == 1000


def test_unreadable_file_is_bad_input(sqlite_db, tmp_path):
    r = kt(sqlite_db, "import", str(tmp_path / "missing.csv"))
    assert r.exit_code == 2
    assert "cannot read" in r.stderr
