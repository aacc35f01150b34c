"""Chaos: a bounded, seeded mutation fuzz of ``kamtool serve`` over real loopback
sockets (tests/support/sip_fuzz_live.py): mutated requests of every method, REGISTERs
that pass digest with a damaged binding, calls to a registered phone answered with
mutated 18x/2xx/4xx and followed by mutated ACK/BYE/re-INVITE, CANCELs. The proxy must
stay responsive and log no traceback. The long hunt that found the bugs of
tests/proxy/test_fuzz_findings.py ran the same code with about 500,000 messages (``python
-m tests.support.sip_fuzz_live --count N --seed S``); these seeds hit several of them
within their budget."""

from __future__ import annotations

import time

import pytest

from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.sip_fuzz_live import EXTRA_ARGS, PROXY_TOML, Fuzzer, bad_log_lines

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

MESSAGES = 1500  # per case: ~3,000 in all, a few seconds each on loopback
CHECK_EVERY = 250
BUDGET = 20.0  # seconds per case (the fuzzer's own waits are bounded)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    with KamtoolProxy(tmp_path_factory.mktemp("fuzz"), proxy_toml=PROXY_TOML,
                      extra_args=EXTRA_ARGS) as p:  # fmt: skip
        yield p


@pytest.mark.parametrize(("proto", "seed"), [("UDP", 1), ("TCP", 3)])
def test_mutated_sip_never_crashes_or_stalls_the_proxy(proxy, proto, seed):
    before = len(bad_log_lines(proxy.log_text()))
    fz = Fuzzer(seed, proxy.sip_port, (proto,))
    start = time.monotonic()
    try:
        fz.setup()
        checked = 0
        while fz.sent < MESSAGES and time.monotonic() - start < BUDGET:
            fz.step()
            if fz.sent - checked >= CHECK_EVERY:
                checked = fz.sent
                assert fz.alive(), f"no answer to OPTIONS after {fz.sent} messages"
                bad = bad_log_lines(proxy.log_text())[before:]
                assert bad == [], _triage(fz, bad)
        assert fz.alive()
    finally:
        fz.close()
    time.sleep(0.5)  # the replies and timers of the last messages
    bad = bad_log_lines(proxy.log_text())[before:]
    assert bad == [], _triage(fz, bad)
    assert fz.sent >= MESSAGES // 2, f"only {fz.sent} messages in {BUDGET} s"


def _triage(fz: Fuzzer, bad: list[str]) -> str:
    """The failure and the last messages sent (replay them one by one to find it)."""
    recent = "\n".join(f"{proto}: {data[:300]!r}" for proto, data in list(fz.recent)[-10:])
    return "\n".join(bad[:6]) + f"\n-- seed {fz.seed}, last messages:\n{recent}"
