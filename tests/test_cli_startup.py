"""What the common commands load (bench/cli_startup.py times them; this keeps the savings).

Not a timed test: it names the modules a command must not import, each of which cost
start-up time before (see bench/README.md, "CLI start-up").
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

# module prefix -> why a plain `kamtool add` on SQLite has no use for it
NOT_FOR_ADD = {
    "pymysql": "MySQL driver (kamtool.db.orm binds it for mysql:// URLs only)",
    "psycopg2": "PostgreSQL driver (bound for postgres:// URLs only)",
    "cryptography": "PyMySQL's RSA authentication",
    "kamtool.sip.digest": "digest parsing and nonces (HA1 comes from kamtool.sip.ha1)",
    "kamtool.sip.parser": "the SIP parser",
    "kamtool.rpc": "no reload after adding a subscriber",
    "httpx": "no reload after adding a subscriber",
    "rich.markdown": "help only, and never needed there (kamtool.cli.richhelp)",
    "textual": "the monitor",
}


def loaded_after(args: list[str]) -> tuple[int, list[str]]:
    code = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        from kamtool.cli.main import main
        with contextlib.redirect_stdout(io.StringIO()):
            status = main({args!r})
        print(json.dumps([status, sorted(sys.modules)]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    status, modules = json.loads(proc.stdout.splitlines()[-1])
    return status, modules


def _matching(modules: list[str], prefix: str) -> list[str]:
    return [m for m in modules if m == prefix or m.startswith(prefix + ".")]


@pytest.fixture(scope="module")
def after_add(tmp_path_factory) -> list[str]:
    """The modules loaded by one `kamtool add` on a new SQLite database."""
    url = "sqlite:///" + str(tmp_path_factory.mktemp("startup") / "kamailio.sqlite")
    status, modules = loaded_after(["--db", url, "--domain", "example.com", "add", "a", "p"])
    assert status == 0
    return modules


@pytest.mark.parametrize("prefix", sorted(NOT_FOR_ADD))
def test_add_on_sqlite_does_not_load(prefix, after_add):
    assert _matching(after_add, prefix) == [], NOT_FOR_ADD[prefix]


def test_help_loads_no_database_or_sip_code():
    status, modules = loaded_after(["--help"])
    assert status == 0
    heavy = ["peewee", "kamtool.db", "kamtool.core", "kamtool.sip", "rich.markdown", "pygments"]
    assert [m for p in heavy for m in _matching(modules, p)] == []
