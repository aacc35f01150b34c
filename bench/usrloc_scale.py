"""usrloc at scale: 100,000 registered contacts in the proxy's routing core, no sockets.

    python bench/usrloc_scale.py [--contacts 100000] [--route default] [--json]

Each contact is registered by its own REGISTER (a user, Call-ID, From tag, branch and
contact address of its own, as phones would send) through ``Engine.receive`` with the
default route and no authentication, into a write-back store (usrloc db_mode 2) on a
SQLite file. Then:

* the process's RSS growth (VmRSS, /proc) per 100,000 contacts (issue #17: < 300 MB);
* how long the event loop would be held (CPU time) by what runs on it every
  ``timer_interval``: the usrloc timer (expiry sweep; its database write is the worker
  thread's, so the store is deferred here as in ``kamtool serve``), handing the
  write-back batch to the worker (``take_pending``) and a ``stats()`` read (every
  statistics and metrics request);
* the same timer when 10% of the contacts have expired.

Compare two checkouts by running each one's copy of this script (``PYTHONPATH`` decides
which ``kamtool`` is imported, see ``--tree``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--contacts", type=int, default=100_000)
ap.add_argument("--route", default="default", help="'default' or 'builtin'")
ap.add_argument("--tree", help="a checkout whose kamtool to measure (default: this one)")
ap.add_argument("--json", action="store_true")
args = ap.parse_args()
sys.path.insert(0, args.tree or str(Path(__file__).resolve().parent.parent))

from kamtool.db.connect import open_database  # noqa: E402
from kamtool.db.ddl import create_tables  # noqa: E402
from kamtool.proxy.auth import Authenticator  # noqa: E402
from kamtool.proxy.config import Listen, ProxyConfig  # noqa: E402
from kamtool.proxy.server import tune_gc  # noqa: E402
from kamtool.proxy.stats import Statistics  # noqa: E402
from kamtool.proxy.timers import TimerHeap  # noqa: E402
from kamtool.proxy.usrloc import LocationStore  # noqa: E402
from kamtool.proxy.wiring import build_proxy  # noqa: E402


class Sink:
    proto = "udp"
    listen = Listen("udp", "127.0.0.1", 5060)

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        self.last = data


def register(i: int, expires: int) -> bytes:
    ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
    return (
        f"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK-{i:x}r;rport\r\n"
        f"From: <sip:u{i}@127.0.0.1>;tag={i:x}f\r\nTo: <sip:u{i}@127.0.0.1>\r\n"
        f"Call-ID: {i:08x}-reg@{ip}\r\nCSeq: 1 REGISTER\r\n"
        f"Contact: <sip:u{i}@{ip}:5060;transport=udp>;expires={expires}\r\n"
        f"Max-Forwards: 70\r\nUser-Agent: bench-phone/1.0\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def held(fn) -> float:
    """CPU milliseconds of one call of ``fn`` (what the event loop would be held)."""
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) * 1000


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="usrloc-scale-"))
    db = open_database("sqlite:///" + str(work / "k.sqlite"))
    create_tables(db, ["standard"])
    now = [time.time()]
    store = LocationStore(db_mode=2, database=db, clock=lambda: now[0])
    store.hand_over(lambda: None)  # as kamtool serve: the database write is the worker's
    script = None  # "builtin" and "default": kamtool's default route
    if args.route not in ("builtin", "default"):
        from kamtool.proxy.script import load_script

        script = load_script(args.route)
    cfg = ProxyConfig(listen=(Sink.listen,), rpc_listen=None, auth=False, pike=False)
    router = build_proxy(
        cfg,
        script=script,
        timers=TimerHeap(asyncio.new_event_loop()),
        usrloc=store,
        auth=Authenticator(None, lookup=lambda u, d: None),
        stats=Statistics(),
        transports=Sink(),  # nothing is relayed: every REGISTER is answered
    )
    n = args.contacts
    # a tenth expire after 60 s, the rest after an hour
    msgs = [register(i, 60 if i % 10 == 0 else 3600) for i in range(n)]
    sink = Sink()
    tune_gc()
    gc.collect()
    before = rss_mb()
    t0 = time.process_time()
    for i, m in enumerate(msgs):
        router.receive(m, sink, (f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 5060))
    reg_s = time.process_time() - t0
    del msgs
    gc.collect()
    grown = rss_mb() - before
    users, contacts = store.stats()
    assert contacts == n, (users, contacts)
    out = {
        "contacts": n,
        "rss_growth_mb": round(grown, 1),
        "bytes_per_contact": round(grown * 1024 * 1024 / n),
        "register_us": round(reg_s * 1e6 / n, 1),
        "take_pending_first_ms": round(held(store.take_pending), 1),  # all new: all written
        "stats_ms": round(held(store.stats), 3),
        "timer_ms": round(held(store.timer), 1),
        "take_pending_idle_ms": round(held(store.take_pending), 3),
    }
    now[0] += 61
    out["timer_10pct_expired_ms"] = round(held(store.timer), 1)
    out["after_expiry"] = store.stats()
    out["gc_full_collect_ms"] = round(held(gc.collect), 1)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:24} {v}")


if __name__ == "__main__":
    main()
