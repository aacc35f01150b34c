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
