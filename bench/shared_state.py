"""What shared state on Redis costs a node: CPU per REGISTER with and without ``[proxy] state``.

    python bench/shared_state.py [--rate 250] [--seconds 6] [--rounds 3]
        [--redis redis://127.0.0.1:6379/14]

Starts ``kamtool serve --no-auth`` (SQLite, db_mode 2, no pike) alternately without and
with ``state`` (a key prefix of its own, deleted afterwards), sends ``rate`` REGISTERs/s
for ``seconds`` with SIPp (``bench/sipp/register_noauth.xml``, 200 users) and reads the
server's CPU (utime+stime of every thread from /proc) before and after. Prints one line per
run, the threads' share (main loop, Redis writer, Redis listener, ...), and the minimum
per configuration over the rounds (the machine's other load only ever adds). With one node
each REGISTER costs a Redis script call (its write and event), the 200's wait for it, and
the node's own event (skipped unread); every other node pays one event more.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.ports import free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of ``pid``."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[tid] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def run(state: str, rate: int, seconds: int) -> tuple[float, list[float], int]:
    """One server, one SIPp run: (CPU us per REGISTER, per-thread us, SIPp's exit)."""
    work = Path(tempfile.mkdtemp(prefix="kt-state-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAMTOOL_")}
    env.update(PYTHONPATH=str(ROOT), HOME=str(work))
    if state:
        (work / "state.toml").write_text(f'[proxy]\nstate = "{state}"\nstate_prefix = "{PREFIX}"\n')
        env["KAMTOOL_CONFIG"] = str(work / "state.toml")
    server = subprocess.Popen(
        [sys.executable, "-m", "kamtool", "--db", f"sqlite:///{work}/k.sqlite", "serve",
         "--no-auth", "--no-pike", "--listen", f"udp:127.0.0.1:{port}", "--rpc-listen", "",
         "--log-level", "warning"],
        env=env, stdout=(work / "serve.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        time.sleep(3)  # started (and, with state, connected)
        users = work / "users.csv"
        users.write_text("SEQUENTIAL\n" + "".join(f"{2000 + i};\n" for i in range(200)))
        before = thread_cpu(server.pid)
        sipp = subprocess.run(
            ["sipp", f"127.0.0.1:{port}", "-sf", str(ROOT / "bench/sipp/register_noauth.xml"),
             "-inf", str(users), "-r", str(rate), "-m", str(rate * seconds), "-nostdin",
             "-timeout", f"{seconds + 30}s", "-i", "127.0.0.1", "-p", str(free_port())],
            cwd=work, capture_output=True, text=True,
        )  # fmt: skip
        after = thread_cpu(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    n = rate * seconds
    per = sorted(((after[t] - before.get(t, 0.0)) / n * 1e6 for t in after), reverse=True)
    return sum(per), [round(x) for x in per if x > 0], sipp.returncode


PREFIX = "kt-bench-" + secrets.token_hex(3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=250)
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = ap.parse_args()
    best: dict[str, float] = {}
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs", flush=True)
    try:
        for _ in range(args.rounds):
            for label, state in (("local", ""), ("redis", args.redis)):
                us, threads, rc = run(state, args.rate, args.seconds)
                best[label] = min(best.get(label, us), us)
                print(f"{label:5} {args.rate}/s: {us:5.0f} us/REGISTER (threads {threads}, "
                      f"sipp exit {rc})", flush=True)  # fmt: skip
    finally:
        import redis

        client = redis.Redis.from_url(args.redis)
        keys = list(client.scan_iter(match=PREFIX + ":*"))
        if keys:
            client.delete(*keys)
    print(f"minimum: local {best['local']:.0f}, redis {best['redis']:.0f} us/REGISTER "
          f"(+{best['redis'] - best['local']:.0f}); load average {os.getloadavg()}")  # fmt: skip


if __name__ == "__main__":
    main()
