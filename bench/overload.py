"""kamtool serve pushed past its capacity, with and without overload protection.

    python bench/overload.py [--rate 3000] [--seconds 5] [--modes off,on] [--json-out F]

For each mode (``[proxy] overload = false`` / ``true``) a fresh ``kamtool serve`` gets
``--seconds`` of SIPp REGISTER-with-digest at ``--rate`` calls/s (bench/sipp/
register_overload.xml: a 503 ends a call as rejected), about 2-3x what it serves (see
bench/README.md), from 127.0.0.1. Meanwhile a probe sends an OPTIONS keepalive to the proxy
every 50 ms and times its answer. Reported:

* ``recovery_s``: from the end of the offered load until answers are prompt again (the
  first probe after which every probe was answered within 200 ms);
* ``backlog_kb``: what waited in the proxy's socket buffer when the load stopped
  (/proc/net/udp rx_queue, kernel accounting: about 2 KB per queued request);
* ``stale_regs``: registrations the proxy saved for nobody, ``registrar:accepted_regs``
  minus the 200s SIPp received (a retransmission served after its original, or a REGISTER
  whose call had already timed out);
* SIPp's calls: answered 200, rejected by 503, failed (a reply never came in 2 s), and how
  long SIPp took for ``--seconds`` of load;
* the proxy's counters: REGISTERs received, 503s of overload, overload episodes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.sipp_compare import (  # noqa: E402
    _COUNTER,
    SCENARIOS,
    SEED_USERS,
    KamtoolServer,
    wait_idle,
    write_users_csv,
)
from tests.support.ports import free_port  # noqa: E402

PROMPT = 0.2  # seconds: an answer within this is prompt (RFC 3261 16.2: 100 in 200 ms)
PROBE_EVERY = 0.05
_RECEIVED = re.compile(r"^\s*(\d{3}) <-+\s+(\d+)", re.M)  # SIPp's "200 <----  count"


class Prober:
    """OPTIONS keepalives to 127.0.0.1:port every PROBE_EVERY s: (sent, answered) times."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.sent: dict[str, float] = {}
        self.answered: dict[str, float] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._tx, self._rx)]

    def __enter__(self) -> Prober:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(2)
        self.sock.close()

    def _tx(self) -> None:
        lport = self.sock.getsockname()[1]
        n = 0
        while not self.stop.is_set():
            n += 1
            cid = f"probe-{n}"
            msg = (
                f"OPTIONS sip:127.0.0.1:{self.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bKprobe{n}\r\n"
                f"From: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:127.0.0.1:{self.port}>\r\n"
                f"Call-ID: {cid}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            self.sent[cid] = time.monotonic()
            self.sock.sendto(msg.encode(), ("127.0.0.1", self.port))
            time.sleep(PROBE_EVERY)

    def _rx(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.sock.recv(65535)
            except (TimeoutError, OSError):
                continue
            for line in data.split(b"\r\n"):
                if line.lower().startswith(b"call-id:"):
                    cid = line.split(b":", 1)[1].strip().decode()
                    self.answered.setdefault(cid, time.monotonic())

    def recovered_at(self, after: float) -> float | None:
        """Send time of the first probe (sent after ``after``) from which on every probe
        was answered promptly; None if never."""
        probes = sorted((t, cid) for cid, t in self.sent.items() if t >= after)
        good = None
        for t, cid in probes[:-10]:  # the last ones may still be on their way
            rtt = self.answered.get(cid, float("inf")) - t
            if rtt <= PROMPT:
                good = t if good is None else good
            else:
                good = None
        return good


def udp_rx_queue(port: int) -> int:
    """Bytes waiting in the receive buffer of the UDP socket bound to ``port``."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == port:
            return int(f[4].split(":")[1], 16)
    return 0


def rpc(port: int, method: str, *params: object) -> object:
    import httpx

    body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
    return httpx.post(f"http://127.0.0.1:{port}/RPC", json=body, timeout=30).json()["result"]


def run_mode(mode: str, rate: int, seconds: float, work: Path) -> dict:
    conf = work / f"kamtool-{mode}.toml"
    conf.write_text(f"[proxy]\noverload = {'true' if mode == 'on' else 'false'}\n")
    env = dict(os.environ, KAMTOOL_CONFIG=str(conf))
    rpc_port = free_port()
    mwork = work / mode
    mwork.mkdir()
    users_csv = write_users_csv(mwork / "users.csv", SEED_USERS)
    extra = ["--rpc-listen", f"127.0.0.1:{rpc_port}"]
    with KamtoolServer(mwork, SEED_USERS, extra=extra, env=env) as server:
        calls = int(rate * seconds)
        cmd = [
            "sipp", f"127.0.0.1:{server.port}", "-sf", str(SCENARIOS / "register_overload.xml"),
            "-i", "127.0.0.1", "-p", str(free_port()), "-r", str(rate), "-m", str(calls),
            "-l", str(rate * 3), "-nostdin", "-max_recv_loops", "10000",
            "-timeout", f"{seconds + 6:.0f}s", "-inf", str(users_csv),
        ]  # fmt: skip
        with Prober(server.port) as prober:
            time.sleep(0.5)
            t0 = time.monotonic()
            sipp = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=mwork
            )
            time.sleep(seconds)
            load_end = time.monotonic()
            backlog = udp_rx_queue(server.port) // 1024
            out = sipp.communicate(timeout=seconds + 30)[0]
            sipp_end = time.monotonic()
            wait_idle(server.pgid, timeout=30)
            time.sleep(1.5)  # a last second of prompt probes to judge recovery by
        recovered = prober.recovered_at(load_end)
        stats = rpc(rpc_port, "stats.fetch", "all")
        assert isinstance(stats, dict)
        counts = dict(_COUNTER.findall(out))
        received: dict[str, int] = {}
        for status, n in _RECEIVED.findall(out):
            received[status] = received.get(status, 0) + int(n)
        accepted = int(stats.get("registrar.accepted_regs", 0))
    return {
        "mode": mode,
        "rate": rate,
        "seconds": seconds,
        "calls": calls,
        "sipp_done_s": round(sipp_end - t0, 1),
        "sipp_200": received.get("200", 0),
        "sipp_503": received.get("503", 0),
        "sipp_failed": int(counts.get("Failed", 0)),
        "backlog_kb": backlog,
        "recovery_s": None if recovered is None else round(max(recovered - load_end, 0), 2),
        "stale_regs": accepted - received.get("200", 0),
        "rcv_register": int(stats.get("core.rcv_requests_register", 0)),
        "accepted_regs": accepted,
        "rejected_503": int(stats.get("overload.rejected_requests", 0)),
        "episodes": int(stats.get("overload.episodes", 0)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=3000, help="offered REGISTER calls/s")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of the overload (<= 10)")
    ap.add_argument("--modes", default="off,on")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    seconds = min(args.seconds, 10.0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kamtool-overload-") as tmp:
        for mode in args.modes.split(","):
            row = run_mode(mode, args.rate, seconds, Path(tmp))
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
