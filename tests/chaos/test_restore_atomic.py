"""Chaos: ``dbctl restore/copy --replace`` keeps the old rows or gives the new ones, never
anything else (issue #12, item 1), on SQLite, MariaDB and PostgreSQL.

Reproduced as the issue did: a truncated backup with garbage at the end, and ``kill -9``
of a ``kamtool dbctl restore --replace`` subprocess at several points of its run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kamtool.db.connect import connected
from tests.support.cli import invoke

pytestmark = pytest.mark.chaos

OLD_ROWS = 50
NEW_ROWS = 60_000
COLUMNS = ["id", "username", "domain", "password", "ha1", "ha1b"]


def _backup(path: Path, rows: int, *, prefix: str) -> Path:
    header = {
        "format": "kamtool-backup",
        "format_version": 1,
        "schema": "kamailio-5.6.3",
        "engine": "sqlite",
        "tables": {"subscriber": {"version": 7, "rows": rows, "columns": COLUMNS}},
    }
    with path.open("w") as fh:
        fh.write(json.dumps(header) + "\n")
        fh.write(json.dumps({"table": "subscriber", "columns": COLUMNS}) + "\n")
        for i in range(1, rows + 1):
            row = [i, f"{prefix}{i}", "example.com", f"pw{i}", "a" * 32, "b" * 32]
            fh.write(json.dumps(row) + "\n")
    return path


def _count(url: str) -> tuple[int, int]:
    """(rows, rows whose username has the new prefix) of ``subscriber``."""
    with connected(url, auto_create=False) as db:
        total = db.execute_sql("SELECT COUNT(*) FROM subscriber").fetchone()[0]
        new = db.execute_sql(
            f"SELECT COUNT(*) FROM subscriber WHERE username LIKE {db.param}", ("new%",)
        ).fetchone()[0]
    return int(total), int(new)


def _assert_old_or_new(url: str) -> str:
    total, new = _count(url)
    if (total, new) == (OLD_ROWS, 0):
        return "old"
    assert (total, new) == (NEW_ROWS, NEW_ROWS), f"half a restore: {total} rows, {new} new"
    return "new"


@pytest.fixture
def seeded(db_url, tmp_path):
    """``db_url`` holding OLD_ROWS subscribers."""
    old = _backup(tmp_path / "old.jsonl", OLD_ROWS, prefix="old")
    r = invoke("--db", db_url, "--json", "dbctl", "restore", str(old))
    assert r.exit_code == 0, r.stdout + r.stderr
    return db_url


def test_truncated_backup_changes_nothing(seeded, tmp_path):
    big = _backup(tmp_path / "big.jsonl", 5_000, prefix="new")
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(big.read_bytes()[:200_000] + b'{"garbage\n')
    r = invoke("--db", seeded, "--json", "dbctl", "restore", str(cut), "--replace", "--yes")
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "truncated" in r.json()["error"]["message"]
    assert _count(seeded) == (OLD_ROWS, 0)


def test_bad_value_is_found_before_anything_is_deleted(seeded, tmp_path):
    bad = _backup(tmp_path / "bad.jsonl", 100, prefix="new")
    text = bad.read_text().splitlines()
    text[-1] = json.dumps([100, "x", "example.com"])  # too short: the last row
    bad.write_text("\n".join(text) + "\n")
    r = invoke("--db", seeded, "--json", "dbctl", "restore", str(bad), "--replace", "--yes")
    assert r.exit_code == 2 and "does not match" in r.json()["error"]["message"]
    assert _count(seeded) == (OLD_ROWS, 0)


def _put_back_old(url: str, tmp_path: Path) -> None:
    old = _backup(tmp_path / "old.jsonl", OLD_ROWS, prefix="old")
    r = invoke("--db", url, "--json", "dbctl", "restore", str(old), "--replace", "--yes")
    assert r.exit_code == 0, r.stdout + r.stderr


def _kill_at_fractions(cmd: list[str], url: str, tmp_path: Path) -> None:
    """Time one full run, then kill -9 runs at several fractions of that time; after each
    the table must hold the old rows or all the new ones."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    full = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert _assert_old_or_new(url) == "new"
    _put_back_old(url, tmp_path)
    killed_running = 0
    # (early fractions too: on a machine whose load drops after the timed run, later
    # runs are faster and the late kills come after the end)
    for fraction in (0.1, 0.2, 0.35, 0.55, 0.75, 0.9):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(full * fraction)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_running += 1
        proc.communicate(timeout=60)
        if _assert_old_or_new(url) == "new":  # it finished before the kill
            _put_back_old(url, tmp_path)
    assert killed_running >= 2, f"runs of {full:.1f} s ended before the kills"


@pytest.mark.slow
def test_kill_9_during_restore_leaves_old_or_new_rows(seeded, tmp_path):
    big = _backup(tmp_path / "big.jsonl", NEW_ROWS, prefix="new")
    cmd = [sys.executable, "-m", "kamtool", "--db", seeded, "--json",
           "dbctl", "restore", str(big), "--replace", "--yes"]  # fmt: skip
    _kill_at_fractions(cmd, seeded, tmp_path)


@pytest.mark.slow
def test_kill_9_during_copy_leaves_old_or_new_rows(seeded, tmp_path):
    source = "sqlite:///" + str(tmp_path / "source.sqlite")
    big = _backup(tmp_path / "big.jsonl", NEW_ROWS, prefix="new")
    assert invoke("--db", source, "dbctl", "restore", str(big)).exit_code == 0
    cmd = [sys.executable, "-m", "kamtool", "--db", source, "--json",
           "dbctl", "copy", "--to", seeded, "--replace", "--yes"]  # fmt: skip
    _kill_at_fractions(cmd, seeded, tmp_path)


@pytest.mark.mysql
def test_replace_refuses_non_transactional_mysql_tables(tmp_path):
    """A MyISAM table (as old kamdbctl set-ups made) cannot take back a DELETE: --replace
    refuses it with a hint instead of risking an empty table."""
    from tests.support.databases import database

    with database("mysql", tmp_path) as url:
        old = _backup(tmp_path / "old.jsonl", OLD_ROWS, prefix="old")
        assert invoke("--db", url, "dbctl", "restore", str(old)).exit_code == 0
        with connected(url, auto_create=False) as db:
            db.execute_sql("ALTER TABLE subscriber ENGINE=MyISAM")
        new = _backup(tmp_path / "new.jsonl", 10, prefix="new")
        r = invoke("--db", url, "--json", "dbctl", "restore", str(new), "--replace", "--yes")
        assert r.exit_code == 2, r.stdout + r.stderr
        err = r.json()["error"]
        assert "non-transactional" in err["message"] and "InnoDB" in err["hint"]
        assert _count(url) == (OLD_ROWS, 0)
