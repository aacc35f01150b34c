"""Exit statuses and output modes of the root command."""

from __future__ import annotations

from tests.support.cli import invoke


def test_unknown_command_is_a_usage_error():
    r = invoke("no-such-command")
    assert r.exit_code == 2
    assert "No such command" in r.stderr


def test_unknown_command_in_json_mode_prints_an_error_object():
    r = invoke("--json", "no-such-command")
    assert r.exit_code == 2
    assert r.json()["error"]["code"] == "usage"


def test_json_after_the_command_is_accepted():
    r = invoke("no-such-command", "--json")
    assert r.exit_code == 2
    assert r.json()["error"]["exit_status"] == 2


def test_group_without_its_command_in_json_mode_prints_an_error_object():
    """`kamtool --json shm`: one JSON document on stdout (the group's help went there
    before), the help page on stderr; without --json the page stays on stdout."""
    r = invoke("--json", "shm")
    assert r.exit_code == 2
    error = r.json()["error"]
    assert (error["code"], error["commands"]) == ("usage", ["stats", "info"])
    assert "Usage: kamtool shm" in r.stderr
    plain = invoke("shm")
    assert plain.exit_code == 2 and "Usage: kamtool shm" in plain.stdout


def test_a_new_sqlite_database_is_said(tmp_path):
    """A mistyped --db path made a new empty database that answered "no subscribers" in
    silence: the first use says so (on stderr), later ones do not."""
    url = f"sqlite:///{tmp_path}/typo/kamailio.sqlite"
    first = invoke("--db", url, "show")
    assert first.exit_code == 0, first.stderr
    assert f"new SQLite database {tmp_path}/typo/kamailio.sqlite" in first.stderr
    again = invoke("--db", url, "show")
    assert again.exit_code == 0 and "new SQLite database" not in again.stderr


def test_an_empty_db_or_rpc_url_is_refused_not_the_default(tmp_path):
    """`--db "$URL"` with URL unset managed the default database in silence."""
    for flag in ("--db", "--rpc"):
        r = invoke("--json", flag, "", "show", env={"HOME": str(tmp_path)})
        assert r.exit_code == 2, r.stdout
        assert r.json()["error"]["message"] == f"{flag} is empty"
    assert not list(tmp_path.rglob("*.sqlite"))
