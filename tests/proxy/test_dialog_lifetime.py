"""The dialog lifetime as the dialog module keeps it: answered, a call ends after
``lifetime`` seconds with a BYE both ways, counted from its last request inside it (the
ACK, a re-INVITE ...), not from its 2xx. On a clock the test moves (the timer heap's
interface), so nothing waits."""

from __future__ import annotations

from kamtool.proxy.dialogs import DLG_STATE_DELETED, DialogTracker, Leg
from tests.proxy.test_pike_unit import FakeTimers


def _answered(lifetime: int = 100):
    timers = FakeTimers()
    byes: list[str] = []
    tracker = DialogTracker(timers, lifetime=lifetime, clock=timers.now,
                            send_bye=lambda d, side: byes.append(side))  # fmt: skip
    d = tracker.create("c1@x", "sip:a@x", "sip:b@x", Leg(tag="a", contact="sip:a@1.2.3.4"))
    tracker.confirmed(d, Leg(tag="b", contact="sip:b@1.2.3.5"))
    tracker.acked(d)
    return timers, tracker, d, byes


def test_the_lifetime_ends_an_untouched_call():
    timers, _, d, byes = _answered()
    timers.advance(99)
    assert d.state != DLG_STATE_DELETED and byes == []
    timers.advance(2)
    assert d.state == DLG_STATE_DELETED and sorted(byes) == ["callee", "caller"]


def test_a_request_inside_the_call_moves_the_end_on():
    timers, tracker, d, byes = _answered()
    timers.advance(60)
    tracker.refreshed(d)  # a re-INVITE at 60 s: the end is now at 160 s
    assert d.timeout == int(timers.now()) + 100
    timers.advance(90)  # 150 s: past the first deadline, the call goes on
    assert d.state != DLG_STATE_DELETED and byes == []
    timers.advance(11)
    assert d.state == DLG_STATE_DELETED and sorted(byes) == ["callee", "caller"]


def test_a_shorter_lifetime_set_later_takes_effect():
    timers, tracker, d, byes = _answered()
    tracker.set_lifetime(d, 10)  # dlg_set_timeout: sooner than the armed timer
    timers.advance(11)
    assert d.state == DLG_STATE_DELETED and byes
