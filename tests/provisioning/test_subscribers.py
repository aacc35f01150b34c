"""kamtool add / passwd / rm / show: kamctl's rows, errors and JSON, on every engine."""

from __future__ import annotations

import sqlite3

from tests.provisioning.conftest import reference_rows, reference_types, rows
from tests.support.cli import invoke

SUB_COLS = "username, domain, password, ha1, ha1b"


def kt(url: str, *args: str, domain: str | None = "127.0.0.1", env=None):
    pre = ["--db", url] + (["--domain", domain] if domain else [])
    return invoke(*pre, *args, env=env)


def test_add_writes_kamctls_rows(url):
    for user in ("1001", "1002", "1003"):
        r = kt(url, "add", user, f"secret{user}")
        assert r.exit_code == 0, r.stderr
    # kamctl add 2002@example.com pw2002 with SIP_DOMAIN unset (README section 5)
    r = kt(url, "add", "2002@example.com", "pw2002", domain=None)
    assert r.exit_code == 0, r.stderr
    expected = [
        (row["username"], row["domain"], row["password"], row["ha1"], row["ha1b"])
        for row in reference_rows("subscriber")
    ]
    expected.append(
        (
            "2002",
            "example.com",
            "pw2002",
            "efaac39f756549801536706b02f3e66a",
            "c8df7105f75323983a77881fa529a090",
        )
    )
    assert rows(url, "subscriber", SUB_COLS) == expected


def test_sqlite_storage_types_match_kamctl(sqlite_db):
    assert kt(sqlite_db, "add", "1001", "secret1001").exit_code == 0
    path = sqlite_db.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    cols = ["id", "username", "domain", "password", "ha1", "ha1b"]
    got = conn.execute(
        f"SELECT {', '.join(f'typeof({c})' for c in cols)} FROM subscriber"
    ).fetchone()
    conn.close()
    assert dict(zip(cols, got, strict=True)) == reference_types("subscriber")[0]


def test_explicit_domain_and_sip_uri_win_over_the_default(sqlite_db):
    assert kt(sqlite_db, "add", "sip:7@example.org", "pw").exit_code == 0
    assert kt(sqlite_db, "add", "8@example.net", "pw").exit_code == 0
    got = rows(sqlite_db, "subscriber", "username, domain")
    assert got == [("7", "example.org"), ("8", "example.net")]


def test_plaintext_storage_off_stores_empty_password(sqlite_db):
    r = kt(sqlite_db, "add", "1001", "secret1001", env={"KAMTOOL_STORE_PLAINTEXT_PW": "0"})
    assert r.exit_code == 0, r.stderr
    ref = reference_rows("subscriber")[0]
    assert rows(sqlite_db, "subscriber", SUB_COLS) == [
        ("1001", "127.0.0.1", "", ref["ha1"], ref["ha1b"])
    ]


def test_duplicate_user_exits_4_and_writes_nothing(url):
    assert kt(url, "add", "1001", "secret1001").exit_code == 0
    r = kt(url, "--json", "add", "1001", "other")
    assert r.exit_code == 4
    assert r.json()["error"]["code"] == "already_exists"
    assert "1001@127.0.0.1" in r.json()["error"]["message"]
    assert "other" not in r.stdout + r.stderr
    assert rows(url, "subscriber", "password") == [("secret1001",)]


def test_no_domain_is_kamctls_error(sqlite_db):
    r = kt(sqlite_db, "add", "1001", "pw", domain=None)
    assert r.exit_code == 2
    assert (
        "domain unknown: use usernames with domain or set default domain in SIP_DOMAIN" in r.stderr
    )
    assert rows(sqlite_db, "subscriber", "username") == []


def test_default_domain_from_kamctlrc(sqlite_db, tmp_path):
    rc = tmp_path / "kamctlrc"
    rc.write_text("SIP_DOMAIN=kamctlrc.test\nSTORE_PLAINTEXT_PW=0\n")
    r = invoke("--db", sqlite_db, "--kamctlrc", str(rc), "add", "42", "pw")
    assert r.exit_code == 0, r.stderr
    assert rows(sqlite_db, "subscriber", "username, domain, password") == [
        ("42", "kamctlrc.test", "")
    ]


def test_bad_user_names_and_passwords_are_refused_without_echoing_secrets(sqlite_db):
    for args in (
        ("add", "bad user", "pw"),
        ("add", "a@b@c", "pw"),
        ("add", "@example.com", "pw"),
        ("add", "1001@bad domain", "pw"),
        ("add", "1001", ""),
        ("add", "1001", "x" * 65 + "topsecret"),
    ):
        r = kt(sqlite_db, *args)
        assert r.exit_code == 2, (args, r.stderr)
        assert "topsecret" not in r.stdout + r.stderr
    assert rows(sqlite_db, "subscriber", "username") == []


def test_password_from_stdin(sqlite_db):
    r = invoke("--db", sqlite_db, "--domain", "127.0.0.1", "add", "1001", "-", stdin="secret1001\n")
    assert r.exit_code == 0, r.stderr
    assert rows(sqlite_db, "subscriber", "password") == [("secret1001",)]


def test_passwd_updates_all_three_columns(url):
    assert kt(url, "add", "1001", "old").exit_code == 0
    r = kt(url, "passwd", "1001", "secret1001")
    assert r.exit_code == 0, r.stderr
    ref = reference_rows("subscriber")[0]
    assert rows(url, "subscriber", SUB_COLS) == [
        ("1001", "127.0.0.1", "secret1001", ref["ha1"], ref["ha1b"])
    ]
    r = kt(url, "--json", "passwd", "9999", "pw")
    assert r.exit_code == 3
    assert r.json()["error"]["message"] == "non-existent user '9999@127.0.0.1'"


def test_rm_removes_aliases_and_acl_groups_too(url):
    assert kt(url, "add", "1001", "pw").exit_code == 0
    assert kt(url, "add", "1002", "pw").exit_code == 0
    assert kt(url, "alias", "add", "5001", "1001").exit_code == 0
    assert kt(url, "alias", "add", "5002", "1002").exit_code == 0
    assert kt(url, "acl", "grant", "1001", "local", "ld").exit_code == 0
    assert kt(url, "acl", "grant", "1002", "local").exit_code == 0
    r = kt(url, "--json", "rm", "1001")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    assert data["action"] == "removed"
    assert data["rows"] == [
        {"username": "1001", "domain": "127.0.0.1", "acl_groups_removed": 2, "aliases_removed": 1}
    ]
    assert rows(url, "subscriber", "username") == [("1002",)]
    assert rows(url, "dbaliases", "alias_username") == [("5002",)]
    assert rows(url, "grp", "username, grp") == [("1002", "local")]
    assert kt(url, "rm", "1001").exit_code == 3


def test_show_hides_secrets_unless_asked(url):
    assert kt(url, "add", "1001", "secret1001").exit_code == 0
    assert kt(url, "add", "1002@example.com", "secret1002").exit_code == 0
    r = kt(url, "show")
    assert r.exit_code == 0
    assert "1001" in r.stdout and "example.com" in r.stdout
    assert "secret" not in r.stdout and "1c13f0eb" not in r.stdout
    r = kt(url, "--json", "show")
    assert r.json() == [
        {"id": r.json()[0]["id"], "username": "1001", "domain": "127.0.0.1"},
        {"id": r.json()[1]["id"], "username": "1002", "domain": "example.com"},
    ]
    r = kt(url, "show", "1001", "--json", "--secrets")
    assert r.exit_code == 0
    [one] = r.json()
    assert one["password"] == "secret1001"
    assert one["ha1"] == "1c13f0eb55501935b8c882b618f78401"
    r = kt(url, "show", "nobody")
    assert r.exit_code == 3


def test_email_is_refused_on_a_5_6_table(sqlite_db):
    r = kt(sqlite_db, "add", "1001", "pw", "--email", "a@example.com")
    assert r.exit_code == 2
    assert "email_address" in r.stderr
    assert rows(sqlite_db, "subscriber", "username") == []


def test_email_is_stored_when_the_table_has_the_column(sqlite_db):
    conn = sqlite3.connect(sqlite_db.removeprefix("sqlite:///"))
    conn.execute("ALTER TABLE subscriber ADD COLUMN email_address VARCHAR(128) DEFAULT '' NOT NULL")
    conn.commit()
    conn.close()
    r = kt(sqlite_db, "add", "1001", "pw", "--email", "a@example.com")
    assert r.exit_code == 0, r.stderr
    assert rows(sqlite_db, "subscriber", "username, email_address") == [("1001", "a@example.com")]
    r = kt(sqlite_db, "--json", "show")
    assert r.json()[0]["email"] == "a@example.com"


def test_adding_over_an_alias_is_refused(sqlite_db):
    assert kt(sqlite_db, "add", "1001", "pw").exit_code == 0
    assert kt(sqlite_db, "alias", "add", "5001", "1001").exit_code == 0
    r = kt(sqlite_db, "add", "5001", "pw")
    assert r.exit_code == 4
    assert "alias of '1001@127.0.0.1'" in r.stderr


def test_missing_tables_get_a_hint(tmp_path):
    url = "sqlite:///" + str(tmp_path / "empty.sqlite")
    sqlite3.connect(tmp_path / "empty.sqlite").execute(
        "CREATE TABLE other (x INTEGER)"
    ).connection.close()
    r = kt(url, "--json", "add", "1001", "pw")
    assert r.exit_code == 9
    assert r.json()["error"]["hint"] == "create the tables: kamtool dbctl create"


def test_first_use_creates_the_default_sqlite_database():
    # No configuration at all: the default SQLite file in the (test) data directory.
    r = invoke("--domain", "127.0.0.1", "add", "1001", "secret1001")
    assert r.exit_code == 0, r.stderr
    r = invoke("--json", "--domain", "127.0.0.1", "show", "1001")
    assert r.json()[0]["username"] == "1001"
