"""Wall time of ``kamtool dbctl create`` against ``kamdbctl create``, and kamtool's
backup/restore/copy throughput, on SQLite and MariaDB.

    python bench/dbctl.py [--runs 5] [--rows 20000] [--no-mysql] [--json]

Both tools create all three groups (63 tables + version rows) into a fresh database per
run; runs alternate so both see the same machine load. kamdbctl reads its settings from
the environment (DBENGINE, DB_PATH, ...; its root password prompt gets an empty line),
as a script would run it. MariaDB runs also create kamdbctl's users, which are dropped
again after each run. Then ``--rows`` subscribers and locations go through
``kamtool dbctl backup``, ``restore`` (into MariaDB) and ``copy`` (SQLite -> SQLite),
reported in rows per second. A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

MYSQL_ROOT = "mysql://root@127.0.0.1:3306"


def kamtool_cmd() -> list[str]:
    script = Path(sys.executable).with_name("kamtool")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kamtool"]


def timed(cmd: list[str], **kw) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return elapsed


def kamdbctl_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, INSTALL_EXTRA_TABLES="yes", INSTALL_PRESENCE_TABLES="yes")
    env.update(INSTALL_DBUID_TABLES="no", **extra)
    return env


def mysql_admin(sql: str) -> None:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            for stmt in sql.split(";"):
                if stmt.strip():
                    cur.execute(stmt)
    finally:
        conn.close()


def stats(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples) * 1000, 1),
        "min_ms": round(min(samples) * 1000, 1),
    }


def bench_create_sqlite(tmp: Path, runs: int) -> dict:
    ours, theirs = [], []
    for i in range(runs):
        db = tmp / f"kt{i}.sqlite"
        ours.append(timed([*kamtool_cmd(), "--db", f"sqlite:///{db}", "dbctl", "create"]))
        kd = tmp / f"kd{i}.sqlite"
        env = kamdbctl_env(DBENGINE="SQLITE", DB_PATH=str(kd))
        theirs.append(timed(["kamdbctl", "create"], env=env, stdin=subprocess.DEVNULL))
    return {"kamtool": stats(ours), "kamdbctl": stats(theirs), "ratio": _ratio(ours, theirs)}


def bench_create_mysql(runs: int) -> dict:
    ours, theirs = [], []
    for _ in range(runs):
        name = "kt_bench_" + uuid.uuid4().hex[:8]
        try:
            ours.append(timed([*kamtool_cmd(), "--db", f"{MYSQL_ROOT}/{name}", "dbctl", "create"]))
        finally:
            mysql_admin(f"DROP DATABASE IF EXISTS `{name}`")
        name = "kd_bench_" + uuid.uuid4().hex[:8]
        env = kamdbctl_env(
            DBENGINE="MYSQL", DBHOST="127.0.0.1", DBNAME=name, DBROOTUSER="root",
            CHARSET="latin1", DBRWUSER="kdb_rw", DBROUSER="kdb_ro",
        )  # fmt: skip
        try:
            theirs.append(timed(["kamdbctl", "create"], env=env, input="\n\n\n"))
        finally:
            users = ", ".join(
                f"'{u}'@'{h}'" for u in ("kdb_rw", "kdb_ro") for h in ("127.0.0.1", "localhost")
            )
            mysql_admin(f"DROP DATABASE IF EXISTS `{name}`; DROP USER IF EXISTS {users}")
    return {"kamtool": stats(ours), "kamdbctl": stats(theirs), "ratio": _ratio(ours, theirs)}


def _ratio(ours: list[float], theirs: list[float]) -> float:
    return round(statistics.median(ours) / statistics.median(theirs), 3)


def bench_transfer(tmp: Path, rows: int, with_mysql: bool) -> dict:
    from datetime import datetime

    from kamtool.core import dbctl
    from kamtool.db.connect import connected
    from kamtool.db.models import Location, Subscriber

    src = f"sqlite:///{tmp / 'source.sqlite'}"
    dbctl.create(src)
    now = datetime.now().replace(microsecond=0)
    import peewee

    subs = [(f"u{i}", "example.com", f"pw{i}", "0" * 32) for i in range(rows)]
    locs = [(f"uloc-{i}", f"u{i}", f"sip:u{i}@10.0.0.1:5060", now) for i in range(rows)]
    with connected(src, auto_create=False) as db, db.atomic():
        fields = [Subscriber.username, Subscriber.domain, Subscriber.password, Subscriber.ha1]
        for batch in peewee.chunked(subs, 200):
            Subscriber.insert_many(batch, fields=fields).execute()
        fields = [Location.ruid, Location.username, Location.contact, Location.expires]
        for batch in peewee.chunked(locs, 200):
            Location.insert_many(batch, fields=fields).execute()
    total = 2 * rows
    out: dict = {"rows": total}
    backup = tmp / "backup.jsonl.gz"
    t = time.perf_counter()
    dbctl.backup(src, backup)
    out["backup_rows_per_s"] = round(total / (time.perf_counter() - t))
    out["backup_bytes"] = backup.stat().st_size
    t = time.perf_counter()
    dbctl.copy(src, f"sqlite:///{tmp / 'copy.sqlite'}")
    out["copy_sqlite_rows_per_s"] = round(total / (time.perf_counter() - t))
    if with_mysql:
        name = "kt_bench_" + uuid.uuid4().hex[:8]
        try:
            t = time.perf_counter()
            dbctl.restore(f"{MYSQL_ROOT}/{name}", backup)
            out["restore_mysql_rows_per_s"] = round(total / (time.perf_counter() - t))
        finally:
            mysql_admin(f"DROP DATABASE IF EXISTS `{name}`")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--no-mysql", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kt-bench-") as d:
        tmp = Path(d)
        result = {"create_sqlite": bench_create_sqlite(tmp, args.runs)}
        if not args.no_mysql:
            result["create_mysql"] = bench_create_mysql(args.runs)
        result["transfer"] = bench_transfer(tmp, args.rows, not args.no_mysql)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key in ("create_sqlite", "create_mysql"):
            if key in result:
                r = result[key]
                print(f"{key:14} kamtool {r['kamtool']['median_ms']:8.1f} ms   kamdbctl "
                      f"{r['kamdbctl']['median_ms']:8.1f} ms   ratio {r['ratio']}")  # fmt: skip
        for k, v in result["transfer"].items():
            print(f"{k:26} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
