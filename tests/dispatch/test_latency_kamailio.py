"""Latency: Kamailio 5.6 probes two destinations with OPTIONS, one answering at once and one
after 300 ms; it reports the slow one's latency, and algorithm 13 sends every call to the
fast one. kamtool's engine fed with the same answers reports the same numbers (up to
Kamailio's measuring on a busy machine) and picks the same order."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from kamtool.core.dispatch.engine import DsEngine
from kamtool.core.dispatch.model import DS_PROBING, DsRequest
from kamtool.sip.message import make_response
from kamtool.sip.parser import parse_message
from tests.support.kamailio import kamailio_available
from tests.support.require import unavailable

pytestmark = [pytest.mark.kamailio, pytest.mark.slow]
SLOW_MS = 300


class DelayPeer:
    """Answers OPTIONS with 200 after ``delay_ms``; counts them."""

    def __init__(self, delay_ms: int) -> None:
        self.delay = delay_ms / 1000
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.uri = f"sip:127.0.0.1:{self.sock.getsockname()[1]}"
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            msg = parse_message(data)
            if msg.is_request and msg.method == "OPTIONS":
                self._stop.wait(self.delay)
                self.sock.sendto(make_response(msg, 200, to_tag="peer").to_bytes(), addr)
                self.answered += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_slow_destination_gets_its_latency_and_fewer_calls(tmp_path):
    if not kamailio_available():
        unavailable("kamailio 5.6 is not installed (scripts/test installs it)")
    from tests.support.kamailio_dispatcher import DispatcherKamailio

    fast, slow = DelayPeer(0), DelayPeer(SLOW_MS)
    rows = [(1, slow.uri, DS_PROBING, 10, ""), (1, fast.uri, DS_PROBING, 10, "")]
    try:
        with DispatcherKamailio(tmp_path, rows, ping_interval=1) as k:
            deadline = time.monotonic() + 30
            while slow.answered < 4 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert slow.answered >= 4, k.log_text()[-2000:]
            targets = k.rpc("dispatcher.list")["RECORDS"][0]["SET"]["TARGETS"]
            listed = {t["DEST"]["URI"]: t["DEST"] for t in targets}
            theirs = [k.select(1, 13)[1:3] for _ in range(6)]
            answered = (fast.answered, slow.answered)
    finally:
        fast.close()
        slow.close()
    engine = DsEngine([(*row, "") for row in rows])
    for _ in range(answered[0]):
        engine.probe_latency(1, fast.uri, 200, 0)
    for _ in range(answered[1]):
        engine.probe_latency(1, slow.uri, 200, SLOW_MS)
    ours = engine.find(1, slow.uri).latency
    reported = listed[slow.uri]["LATENCY"]
    # Kamailio measures send to answer on a shared machine: a little more than the delay
    assert SLOW_MS <= reported["AVG"] < SLOW_MS + 150, reported
    assert SLOW_MS <= reported["MAX"] < SLOW_MS + 300 and reported["TIMEOUT"] == 0
    assert (ours.average, ours.max, ours.timeout) == (SLOW_MS, SLOW_MS, 0)
    assert listed[fast.uri]["LATENCY"]["AVG"] < 100
    # algorithm 13: the fast destination first every time, the slow one as failover
    assert set(map(tuple, [(du, tuple(f)) for du, f in theirs])) == {
        (fast.uri, (fast.uri, slow.uri))
    }
    ours_sel = [engine.select(1, 13, DsRequest()) for _ in range(6)]
    assert {(s.dest.uri, tuple(d.uri for d in s.failover)) for s in ours_sel} == {
        (fast.uri, (fast.uri, slow.uri))
    }
