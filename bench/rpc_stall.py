"""How much a big JSON-RPC request delays SIP in ``kamtool serve`` (issue #12, item 2).

    python bench/rpc_stall.py [--contacts 100000] [--json-out F]

A fresh ``kamtool serve`` (no pike) gets ``--contacts`` contacts with ``ul.add`` batches.
An OPTIONS probe then asks it every 10 ms over UDP while, one after the other:

* ``idle``: nothing else (2 s);
* ``ul.dump``: one full ``ul.dump`` over HTTP, read to its end;
* ``ul.dump x3 parallel``: three at once;
* ``batch of 200 ul.dump``: the request of the issue (refused by cost now);
* ``heavy batch``: 1,000 ``stats.get_statistics all`` calls in one batch.

For each phase: its wall time, the probes' round trips (median, p99, max; target: max
<= 50 ms) and the proxy's RSS after it (and its peak, VmHWM; target: < 500 MB growth).

The usrloc timer is kept out of the way (``--timer-interval``, default 3600 s): with
100,000 contacts its expiry sweep alone holds the event loop for 0.2-1 s every
``timer_interval`` (10 s by default), which has nothing to do with RPC and would hide
what is measured here. ``--timer-interval 10`` shows it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.kamtool_proxy import KamtoolProxy  # noqa: E402
from tests.support.stall_probe import OptionsProbe, fill_contacts, post, rss_kb  # noqa: E402

_CLIENT = """
import json, sys, threading
sys.path.insert(0, sys.argv[1])
from tests.support.stall_probe import post
docs = json.loads(sys.stdin.read())
sizes = [0] * len(docs)
def one(i):
    sizes[i] = len(post(sys.argv[2], docs[i]))
threads = [threading.Thread(target=one, args=(i,)) for i in range(len(docs))]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(sizes))
"""


def _post_elsewhere(url: str, docs: list) -> list[int]:
    """POST ``docs`` at once from another process (reading 91 MB answers in this one
    would hold the GIL the probe needs to timestamp answers); the answers' sizes."""
    cmd = [sys.executable, "-c", _CLIENT, str(ROOT), url]
    done = subprocess.run(cmd, input=json.dumps(docs), capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _phase(name, probe, pid, work) -> dict:
    start = time.monotonic()
    detail = work()
    end = time.monotonic()
    time.sleep(0.1)  # the last probes' answers
    d = sorted(probe.delays(start, end)) or [0.0]
    rss, hwm = rss_kb(pid)
    return {
        "phase": name,
        "seconds": round(end - start, 2),
        "probes": len(d),
        "median_ms": round(statistics.median(d) * 1000, 1),
        "p99_ms": round(d[min(len(d) - 1, int(len(d) * 0.99))] * 1000, 1),
        "max_ms": round(d[-1] * 1000, 1),
        "rss_mb": round(rss / 1024),
        "peak_mb": round(hwm / 1024),
        **(detail or {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--timer-interval", type=float, default=3600)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    toml = f"timer_interval = {args.timer_interval}"
    with tempfile.TemporaryDirectory() as tmp, \
            KamtoolProxy(Path(tmp), seed=False, extra_args=("--no-pike",),
                         proxy_toml=toml) as proxy:  # fmt: skip
        url, pid = proxy.rpc_http_url, proxy.proc.pid
        t0 = time.monotonic()
        fill_contacts(url, args.contacts)
        print(f"{args.contacts} contacts added in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        dump = {"jsonrpc": "2.0", "method": "ul.dump", "id": 1}

        def one_dump() -> dict:
            return {"answer_mb": round(_post_elsewhere(url, [dump])[0] / 1e6, 1)}

        def three_dumps() -> dict:
            return {"answer_mb": round(sum(_post_elsewhere(url, [dump] * 3)) / 1e6, 1)}

        def dump_batch() -> dict:
            answer = json.loads(post(url, [{**dump, "id": i} for i in range(200)]))
            return {"answer": answer["error"]["message"][:60] if "error" in answer else "ran"}

        def heavy_batch() -> dict:
            batch = [{"jsonrpc": "2.0", "method": "stats.get_statistics", "params": ["all"],
                      "id": i} for i in range(1000)]  # fmt: skip
            return {"answer_mb": round(_post_elsewhere(url, [batch])[0] / 1e6, 1)}

        rows = []
        with OptionsProbe(proxy.sip_port, every=0.01) as probe:
            time.sleep(0.3)
            rows.append(_phase("idle", probe, pid, lambda: time.sleep(2)))
            rows.append(_phase("ul.dump", probe, pid, one_dump))
            rows.append(_phase("ul.dump x3 parallel", probe, pid, three_dumps))
            rows.append(_phase("batch of 200 ul.dump", probe, pid, dump_batch))
            rows.append(_phase("heavy batch", probe, pid, heavy_batch))
    keys = list(rows[0])
    extra = sorted({k for r in rows for k in r} - set(keys))
    print("\t".join(keys + extra))
    for r in rows:
        print("\t".join(str(r.get(k, "")) for k in keys + extra))
    if args.json_out:
        args.json_out.write_text(json.dumps({"contacts": args.contacts, "phases": rows}, indent=1))


if __name__ == "__main__":
    main()
