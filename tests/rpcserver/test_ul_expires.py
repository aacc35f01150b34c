"""``Expires`` of a contact in ul.dump/ul.lookup: whole seconds left, counted as Kamailio
counts them (both times cut to the second), so a fresh 600 s registration shows 600."""

from __future__ import annotations

from kamtool.proxy.usrloc import Binding
from kamtool.rpc.methods.ul import contact_info


def expires_at(absolute: float, now: float) -> int | str:
    return contact_info(Binding("1001", "sip:1001@127.0.0.1:5999", absolute), now)["Contact"][
        "Expires"
    ]


def test_expires_in_whole_seconds_as_kamailio() -> None:
    registered = 1_700_000_000.7
    assert expires_at(registered + 600, registered) == 600
    assert expires_at(registered + 600, registered + 0.2) == 600  # the same second
    assert expires_at(registered + 600, registered + 0.5) == 599  # the next one
    assert expires_at(0, registered) == "permanent"
    assert expires_at(registered, registered + 1) == "expired"
