"""The usrloc write-back's database side: one batch of N new contacts, then the same N
refreshed, written by ``LocationStore.write_batch`` (what the database worker runs every
``timer_interval`` in db_mode 2, and at shutdown for whatever is pending).

    python bench/usrloc_flush.py [--contacts 20000] [--engines sqlite,mysql,postgres]

MariaDB and PostgreSQL as on the development machine (127.0.0.1, root / postgres, a
scratch database created and dropped). Prints seconds and microseconds per contact.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kamtool.db.connect import open_database
from kamtool.db.ddl import create_tables
from kamtool.proxy.binding import Batch, Binding
from kamtool.proxy.usrloc import LocationStore
from tests.support.databases import database


def contacts(n: int, now: float) -> list[Binding]:
    return [
        Binding(aor=f"u{i}", contact=f"sip:u{i}@10.0.{i // 250 % 250}.{i % 250}:5060",
                expires=now + 600, callid=f"c{i}", cseq=1, user_agent="bench",
                socket="udp:127.0.0.1:5060", ruid=f"uloc-{i}")  # fmt: skip
        for i in range(n)
    ]


def run(url: str, n: int) -> tuple[float, float]:
    db = open_database(url)
    try:
        create_tables(db, ["standard"])
        store = LocationStore(db_mode=2, database=db)
        batch = contacts(n, time.time())
        t0 = time.perf_counter()
        store.write_batch(Batch(upserts=batch))
        t1 = time.perf_counter()
        store.write_batch(Batch(upserts=batch))
        return t1 - t0, time.perf_counter() - t1
    finally:
        db.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=20000)
    ap.add_argument("--engines", default="sqlite,mysql,postgres")
    args = ap.parse_args()
    n = args.contacts
    print(f"{'engine':10} {'insert s':>9} {'us/contact':>11} {'refresh s':>10} {'us/contact':>11}")
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory() as tmp, database(engine, Path(tmp)) as url:
            first, again = run(url, n)
        print(f"{engine:10} {first:9.2f} {first / n * 1e6:11.1f} {again:10.2f} "
              f"{again / n * 1e6:11.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
