"""kamtool.db.orm: peewee without the server drivers until a server database needs one.

Each check runs in a fresh interpreter, where ``kamtool.db.orm`` is the first import of
peewee (in this test process peewee may have been imported with its drivers already).
"""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kamtool
from tests.support.databases import database

PACKAGE = Path(kamtool.__file__).parent
DRIVERS = ("pymysql", "MySQLdb", "psycopg2", "cryptography")


def run_python(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON document as its last line."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_only_kamtool_db_orm_imports_peewee():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "db" / "orm.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(n == "peewee" or n.startswith("peewee.") for n in names):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == [], "import peewee through kamtool.db.orm: " + ", ".join(offenders)


def test_an_sqlite_command_loads_no_server_driver(tmp_path):
    url = "sqlite:///" + str(tmp_path / "k.sqlite")
    result = run_python(
        f"""
        import json, sys
        from kamtool.cli.main import main
        status = main(["--db", {url!r}, "--domain", "example.com", "add", "alice", "pw"])
        import peewee
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {DRIVERS!r})
        print(json.dumps({{"status": status, "loaded": loaded,
                          "mysql": peewee.mysql is None, "pg": peewee.psycopg2 is None}}))
        """
    )
    assert result == {"status": 0, "loaded": [], "mysql": True, "pg": True}


# Exercises what peewee does with its driver: DDL, inserts, the exists/select queries,
# the duplicate-key error mapping, a rolled-back transaction, and the connection check
# that reads the driver's transaction-status constants.
SERVER_SCRIPT = """
import json, sys
import kamtool.db.orm
from kamtool.db.orm import peewee
hidden = {"mysql": peewee.mysql is None, "psycopg2": peewee.psycopg2 is None,
          "modules": sorted(m for m in sys.modules if m.split(".")[0] in DRIVERS)}
from kamtool.cli.main import main
statuses = [
    main(["--db", URL, "dbctl", "create"]),
    main(["--db", URL, "--domain", "example.com", "add", "alice", "pw"]),
    main(["--db", URL, "--domain", "example.com", "add", "alice", "pw"]),
]
from kamtool.db import models
from kamtool.db.connect import connected
with connected(URL) as db:
    S = models.Subscriber
    row = S.get(S.username == "alice")
    try:
        with db.atomic():
            S.insert(username="alice", domain="example.com", password="", ha1="", ha1b="").execute()
        duplicate = "accepted"
    except peewee.IntegrityError:
        duplicate = "IntegrityError"
    try:
        with db.atomic():
            S.insert(username="bob", domain="example.com", password="", ha1="", ha1b="").execute()
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    bob = S.select().where(S.username == "bob").count()
    usable = db.is_connection_usable()
    driver = type(db.connection()).__module__.split(".")[0]
print(json.dumps({"hidden": hidden, "statuses": statuses, "ha1": row.ha1,
                  "duplicate": duplicate, "bob": bob, "usable": usable, "driver": driver}))
"""


@pytest.mark.parametrize(
    ("engine", "driver"),
    [
        pytest.param("mysql", "pymysql", marks=pytest.mark.mysql),
        pytest.param("postgres", "psycopg2", marks=pytest.mark.postgres),
    ],
)
def test_a_server_database_works_with_its_driver_bound_late(engine, driver, tmp_path):
    with database(engine, tmp_path) as url:
        result = run_python(f"URL = {url!r}\nDRIVERS = {DRIVERS!r}\n" + SERVER_SCRIPT)
    assert result["hidden"] == {"mysql": True, "psycopg2": True, "modules": []}
    assert result["statuses"] == [0, 0, 4]  # created, added, "already exists"
    assert result["ha1"] == hashlib.md5(b"alice:example.com:pw").hexdigest()
    assert result["duplicate"] == "IntegrityError"
    assert result["bob"] == 0
    assert result["usable"] is True
    assert result["driver"] == driver


def test_a_missing_driver_is_a_clear_error():
    result = run_python(
        """
        import contextlib, io, json, sys
        sys.modules["pymysql"] = None  # as if PyMySQL were not installed
        from kamtool.cli.main import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(["--json", "--db", "mysql://root@127.0.0.1:1/x", "show", "a@b"])
        print(json.dumps({"status": status, "error": json.loads(out.getvalue())["error"]}))
        """
    )
    assert result["status"] == 5
    assert "pymysql is not installed" in result["error"]["message"]
    assert result["error"]["hint"] == "pip install PyMySQL"
