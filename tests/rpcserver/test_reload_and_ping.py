"""Kamailio's reload_delta on kamtool's RPC server: one reload of a table in 5 s; the next
within 5 s is refused (500, with the module's own words) and does not touch the table.
Also dispatcher.ping_active, whose answers tests/runtime saw differ from Kamailio's."""

from __future__ import annotations

import asyncio
import json

from kamtool.rpc.methods import Registry, dispatcher, permissions
from kamtool.rpc.server.dispatch import handle_bytes
from tests.rpcserver.fakes import FakeDispatcher, FakePermissions


def _call(registry: Registry, method: str, *params: object) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})
    return asyncio.run(handle_bytes(registry, body.encode())).body


def test_permissions_reloads_are_held_5_s_apart_per_table() -> None:
    now = [1000.0]
    perms = FakePermissions()
    reg = Registry()
    permissions.register(reg, perms, clock=lambda: now[0])

    assert _call(reg, "permissions.addressReload")["result"] == "Reload OK"
    refused = _call(reg, "permissions.addressReload")
    assert refused["error"] == {"code": 500, "message": "ongoing reload"}
    assert perms.reloaded == 1  # the refused one did not reload
    # the trusted table has its own limit (Kamailio 5.6 shares one: kamailio#3318)
    assert _call(reg, "permissions.trustedReload")["result"] == "Reload OK"
    now[0] += 4.9
    assert "error" in _call(reg, "permissions.addressReload")
    now[0] += 0.2
    assert _call(reg, "permissions.addressReload")["result"] == "Reload OK"
    assert perms.reloaded == 3


def test_dispatcher_reload_keeps_its_limit_and_message() -> None:
    now = [50.0]
    reg = Registry()
    dispatcher.register(reg, FakeDispatcher(), clock=lambda: now[0])
    assert _call(reg, "dispatcher.reload")["result"].startswith("Ok.")
    assert _call(reg, "dispatcher.reload")["error"] == {"code": 500, "message": "Ongoing reload"}
    now[0] += 5
    assert _call(reg, "dispatcher.reload")["result"].startswith("Ok.")


def test_dispatcher_ping_active_answers_as_kamailio() -> None:
    """The old state alone, or old and new (shapes of Kamailio 5.6.3's answers)."""
    fake = FakeDispatcher()
    reg = Registry()
    dispatcher.register(reg, fake)
    assert _call(reg, "dispatcher.ping_active")["result"] == {"OldPingState": 1}
    set_off = _call(reg, "dispatcher.ping_active", 0)["result"]
    assert set_off == {"NewPingState": 0, "OldPingState": 1} and fake.ping_active is False
    assert _call(reg, "dispatcher.ping_active", 1)["result"] == {
        "NewPingState": 1,
        "OldPingState": 0,
    }
