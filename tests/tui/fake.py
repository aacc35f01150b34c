"""A monitor fed from the captured Kamailio 5.6 answers, with counters that move."""

from __future__ import annotations

import itertools

from kamtool.tui.app import MonitorApp
from kamtool.tui.capture import FakeSource
from tests.support.reference import RPC_CAPTURES

CAPTURES = RPC_CAPTURES
START = 1795693214.0  # the server's clock when the captures were taken

# counter -> messages per poll; the k-th poll adds rate * (1 + k*7 % 5) so sparklines vary
GROWTH = {
    "core:rcv_requests": 12,  # all SIP: the per-method counters below add up to it
    "core:rcv_requests_invite": 4,
    "core:rcv_requests_register": 5,
    "core:rcv_requests_bye": 3,
    "core:rcv_replies": 7,
    "core:fwd_requests": 5,
    "core:fwd_replies": 4,
    "core:drop_requests": 1,
    "core:err_requests": 0,
    "tmx:2xx_transactions": 4,
    "sl:200_replies": 3,
    "tmx:4xx_transactions": 2,
    "tmx:5xx_transactions": 1,
}


class Clock:
    """A wall clock that only moves when told to."""

    def __init__(self, now: float = START):
        self.now = now

    def __call__(self) -> float:
        return self.now


def growing_stats(source: FakeSource):
    """Make ``stats.get_statistics`` answer with counters growing at each call."""
    base = source.client.call("stats.get_statistics", "all")
    source.client.calls.clear()
    polls = itertools.count()

    def answer() -> list[str]:
        k = next(polls)
        lines = []
        for line in base:
            name, _, value = line.partition(" = ")
            extra = sum(GROWTH.get(name, 0) * (1 + i * 7 % 5) for i in range(k))
            lines.append(f"{name} = {int(value) + extra}")
        return lines

    source.client.results["stats.get_statistics"] = answer


def make_app(primed: bool = False) -> tuple[MonitorApp, FakeSource, Clock]:
    """A monitor on the captures that polls only when the test says so.

    ``primed``: with a traffic history already, so the sparklines show something.
    """
    source = FakeSource(CAPTURES)
    growing_stats(source)
    clock = Clock()
    app = MonitorApp(source, interval=None, clock=clock)
    if primed:
        prime_traffic(app, source, clock)
        source.client.calls.clear()
    return app, source, clock


async def settle(pilot) -> None:
    """Wait for every running poll and the messages it posted."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def prime_traffic(app: MonitorApp, source: FakeSource, clock: Clock, polls: int = 24) -> None:
    """Give the app ``polls`` earlier statistics samples, 2 s apart, as polling would.

    Done before the app runs: polling that often through the UI costs a render each.
    """
    for _ in range(polls):
        stats = source.stats()
        app.traffic.add(clock.now, stats)
        app.history.append((clock.now, stats, {}))
        clock.now += 2.0
