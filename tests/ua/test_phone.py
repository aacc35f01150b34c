"""The simulated phone against kamtool's proxy: what goes wrong is reported, not hidden."""

from __future__ import annotations

import socket

import pytest

from kamtool.ua.call import CallFailed
from kamtool.ua.demo import CALLEE, CALLER, DOMAIN, DemoLab, LoopThread
from kamtool.ua.phone import Phone


@pytest.fixture(scope="module")
def lab():
    with DemoLab(log_level="warning") as lab, LoopThread() as loop:
        lab.loop = loop
        yield lab


def test_a_wrong_password_fails_the_registration(lab):
    phone = Phone(CALLER, "not-the-password", DOMAIN, lab.sip)

    async def run():
        await phone.start()
        try:
            await phone.register()
        finally:
            phone.close()

    with pytest.raises(CallFailed, match="REGISTER got 401"):
        lab.loop.run(run())
    # challenged, answered once with credentials, challenged again: no endless retries
    sent = [e.summary for e in phone.trace if e.outgoing]
    assert sent == ["REGISTER sip:127.0.0.1", "REGISTER sip:127.0.0.1 (with digest credentials)"]


def test_calling_a_user_who_is_not_registered_fails_with_the_proxys_answer(lab):
    phone = Phone(CALLER, lab.passwords[CALLER], DOMAIN, lab.sip)

    async def run():
        await phone.start()
        try:
            await phone.register()
            await phone.call(CALLEE)  # 1002 never registered on this lab
        finally:
            phone.close()

    with pytest.raises(CallFailed, match="the call to 1002 got 404"):
        lab.loop.run(run())
    assert phone.calls[-1].status == 404 and not phone.calls[-1].up
    # the 404 was ACKed by the transaction layer (hop by hop)
    assert [e.summary.split()[0] for e in phone.trace if e.outgoing][-1] == "ACK"


def test_a_port_taken_after_it_was_chosen_means_other_ports(monkeypatch):
    from kamtool.ua import demo

    real = demo.free_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        chosen: list[int] = []

        def free_port(host: str = "127.0.0.1") -> int:
            chosen.append(taken if not chosen else real(host))  # the first one is taken
            return chosen[-1]

        monkeypatch.setattr(demo, "free_port", free_port)
        with DemoLab(log_level="warning") as lab:
            assert chosen[0] == taken and lab.sip[1] not in (0, taken)
            assert lab.call("core.version")
