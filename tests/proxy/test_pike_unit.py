"""kamtool.proxy.pike on a fake clock: the counts at which Kamailio's pike cuts a flood,
the sampling units, expiry after remove_latency, and the timer-heap driver."""

from __future__ import annotations

import heapq
from typing import Any

import pytest

from kamtool.proxy.pike import FloodDetector, Pike, Verdict
from kamtool.proxy.stats import Statistics


def first_blocked(d: FloodDetector, ip: str, now: float = 0.0, limit: int = 2000) -> int:
    """Send requests from ``ip`` until one is blocked; its 1-based number."""
    for n in range(1, limit + 1):
        if d.hit(ip, now).blocked:
            return n
    raise AssertionError(f"{ip} never blocked in {limit} requests")


def test_fresh_ipv4_source_is_cut_after_the_tree_grows_to_its_address() -> None:
    # 1 request makes the /8 node; it splits at 50 (200/4) hits, then /16 and /24 at one
    # request each, the leaf starts counting at request 53 and reaches 200 at request 252.
    d = FloodDetector(max_hits=200, remove_latency=4)
    assert first_blocked(d, "127.0.0.2") == 252
    (entry,) = d.top("HOT", now=0.5)
    assert (entry.ip_addr, entry.leaf_hits_prev, entry.leaf_hits_curr) == ("127.0.0.2", 0, 200)
    assert (entry.expires, entry.status) == (4, "HOT")


def test_the_first_blocked_request_is_new_the_rest_are_blocked() -> None:
    d = FloodDetector(max_hits=20, remove_latency=4)
    verdicts = [d.hit("10.0.0.1", 0.0) for _ in range(40)]
    assert verdicts.count(Verdict.NEW_BLOCK) == 1
    assert verdicts.index(Verdict.NEW_BLOCK) == 26  # 7 to grow the tree (20/4 = 5 + 2) + 20
    assert all(v is Verdict.BLOCKED for v in verdicts[27:])


def test_a_neighbour_of_a_flood_shows_warm_as_in_kamailio() -> None:
    # Kamailio 5.6, same sequence: 127.0.0.3 sent 3 requests after 127.0.0.2's flood and
    # pike.top ALL listed it with leaf hits 0/2 and WARM (its leaf inherited the /24's hits)
    d = FloodDetector(max_hits=200, remove_latency=4)
    first_blocked(d, "127.0.0.2")
    assert all(d.hit("127.0.0.3", 0.0) is Verdict.OK for _ in range(3))
    rows = [(e.ip_addr, e.leaf_hits_prev, e.leaf_hits_curr, e.status) for e in d.top("ALL", 0)]
    assert rows == [("127.0.0.2", 0, 200, "HOT"), ("127.0.0.3", 0, 2, "WARM")]


def test_a_neighbour_in_a_busy_subnet_is_cut_at_the_limit_itself() -> None:
    d = FloodDetector(max_hits=200, remove_latency=4)
    first_blocked(d, "127.0.0.2")
    # the /24 is hot: 127.0.0.3 gets its leaf on its first request
    assert first_blocked(d, "127.0.0.3") == 201


def test_ipv6_source_needs_sixteen_levels() -> None:
    d = FloodDetector(max_hits=200, remove_latency=4)
    assert first_blocked(d, "2001:db8::1") == 50 + 14 + 200
    assert [e.ip_addr for e in d.top("HOT", 0)] == ["2001:db8::1"]


def test_ipv4_and_ipv6_do_not_share_prefixes() -> None:
    # 32.1.13.184 is the bytes 20 01 0d b8; Kamailio's single tree would count both on it
    d = FloodDetector(max_hits=20, remove_latency=4)
    for _ in range(30):
        d.hit("2001:db8::1", 0.0)
    assert first_blocked(d, "32.1.13.184") == 27


def test_the_limit_is_not_taken_modulo_65536() -> None:
    # Kamailio keeps reqs_density_per_unit in 16 bits: 65736 acts as 200 there.
    d = FloodDetector(max_hits=65536 + 200, remove_latency=4)
    for _ in range(1000):
        assert d.hit("127.0.0.2", 0.0) is Verdict.OK
    assert d.max_hits == 65736


def test_hot_lasts_into_the_next_unit_then_cools() -> None:
    d = FloodDetector(max_hits=20, remove_latency=100)
    first_blocked(d, "10.0.0.1")
    assert d.swap() == []  # 20 hits in the previous unit: still HOT
    assert d.hit("10.0.0.1", 1.0) is Verdict.BLOCKED
    assert [(e.leaf_hits_prev, e.leaf_hits_curr, e.status) for e in d.top("ALL", 1)] == [
        (20, 1, "HOT")
    ]
    assert d.swap() == ["10.0.0.1"]
    assert d.top("HOT", 2) == []
    assert d.hit("10.0.0.1", 2.0) is Verdict.OK
    # after cooling it takes a full max_hits again within one unit
    assert first_blocked(d, "10.0.0.1", now=2.0) == 19


def test_hits_split_over_two_units_do_not_add_up() -> None:
    d = FloodDetector(max_hits=20, remove_latency=100)
    for _ in range(7 + 15):  # tree, then 15 leaf hits
        d.hit("10.0.0.1", 0.0)
    d.swap()
    assert first_blocked(d, "10.0.0.1") == 20  # the current unit alone must reach 20


def test_leaf_is_forgotten_remove_latency_after_its_last_hit() -> None:
    d = FloodDetector(max_hits=20, remove_latency=4)
    for t in range(10):
        d.hit("10.0.0.1", float(t))
    assert [e.ip_addr for e in d.top("ALL", 9.0)] == ["10.0.0.1"]
    assert d.top("ALL", 9.0)[0].expires == 4
    assert d.expire(12.9) == 0
    assert d.expire(13.0) == 1
    assert d.top("ALL", 13.0) == []
    # each prefix then waits remove_latency itself before it goes
    assert d.next_expiry() == 17.0
    assert [d.expire(t) for t in (17.0, 21.0, 25.0)] == [1, 1, 1]
    assert len(d) == 0 and d.next_expiry() is None


def test_a_prefix_under_light_traffic_expires_even_while_hit() -> None:
    # hits on a prefix do not refresh it (pike saves memory): 4 requests in 4 s go
    d = FloodDetector(max_hits=200, remove_latency=4)
    for t in range(4):
        d.hit("10.0.0.1", float(t))
    assert len(d) == 1
    assert d.expire(4.0) == 1 and len(d) == 0


def test_warm_leaves_are_listed_with_warm() -> None:
    # a scan from many addresses of one /24: once the /24 is busy, each new address's
    # leaf inherits its hits and shows WARM (Kamailio's pike.top WARM lists nothing).
    d = FloodDetector(max_hits=20, remove_latency=100)
    for host in range(1, 30):
        for _ in range(2):
            d.hit(f"10.0.0.{host}", 0.0)
    warm = d.top("WARM", 0)
    assert warm and all(e.status == "WARM" for e in warm)
    everything = d.top("ALL", 0)
    assert {e.status for e in everything} == {"WARM", ""}
    assert d.top("HOT", 0) == []


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        FloodDetector(max_hits=0)
    with pytest.raises(ValueError):
        FloodDetector(remove_latency=0)


class FakeTimers:
    """The TimerHeap interface on a clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.heap: list[tuple[float, int, Any]] = []
        self.seq = 0

    def now(self) -> float:
        return self.t

    def call_at(self, when: float, fn: Any, *args: Any) -> Any:
        self.seq += 1
        entry = [when, self.seq, fn, args, False]
        heapq.heappush(self.heap, entry)  # type: ignore[arg-type]

        class Handle:
            def cancel(self) -> None:
                entry[4] = True

        return Handle()

    def call_later(self, delay: float, fn: Any, *args: Any) -> Any:
        return self.call_at(self.t + delay, fn, *args)

    def advance(self, seconds: float) -> None:
        end = self.t + seconds
        while self.heap and self.heap[0][0] <= end:
            when, _, fn, args, cancelled = heapq.heappop(self.heap)  # type: ignore[misc]
            self.t = max(self.t, when)
            if not cancelled:
                fn(*args)
        self.t = end


def test_pike_on_the_timer_heap_swaps_expires_and_counts_blocks() -> None:
    timers = FakeTimers()
    stats = Statistics()
    pike = Pike(
        timers,
        reqs_density_per_unit=20,
        sampling_time_unit=2,
        remove_latency=4,
        blocked_ips=stats.counter("pike", "blocked_ips"),
    )
    timers.advance(0.1)  # just after a unit began
    verdicts = [pike.check("127.0.0.2") for _ in range(40)]
    assert verdicts.count(Verdict.NEW_BLOCK) == 1
    assert stats.value("pike", "blocked_ips") == 1
    assert [e.status for e in pike.top("HOT")] == ["HOT"]
    timers.advance(2)  # one swap: HOT from the previous unit
    assert [(e.leaf_hits_prev, e.leaf_hits_curr) for e in pike.top("HOT")] == [(33, 0)]
    timers.advance(2)  # second swap: cooled (0 and 0)
    assert pike.top("HOT") == []
    assert pike.check("127.0.0.2") is Verdict.OK
    timers.advance(4.5)  # remove_latency after the last hit: the leaf is gone
    assert pike.top("ALL") == []
    timers.advance(20)  # and the prefixes after it
    assert len(pike.detector) == 0
    # a second flood is a second block
    for _ in range(40):
        pike.check("127.0.0.2")
    assert stats.value("pike", "blocked_ips") == 2


def test_unparsable_source_is_let_through() -> None:
    pike = Pike(FakeTimers(), reqs_density_per_unit=1)
    assert pike.check("not-an-ip") is Verdict.OK
