"""Shape test: for every captured Kamailio exchange of a method kamtool implements, kamtool's
answer for a comparable state has the same keys, nesting, types and order; errors have the
same code and message. Also: the printer reproduces the captured bytes."""

from __future__ import annotations

import asyncio
import json

import pytest

from kamtool.rpc import kamjson
from kamtool.rpc.server.dispatch import handle_bytes
from tests.rpcserver.captures import RPC_DIR, capture, load
from tests.rpcserver.fakes import FakeState, PikeEntry
from tests.rpcserver.shape import same_shape, shape_diff

# Calls that bring the fake state to what Kamailio had before the capture.
SETUP: dict[str, list[tuple[str, list]]] = {
    "dispatcher.reload.too_soon": [("dispatcher.reload", [])],
    "htable.delete": [("htable.seti", ["ipban", "10.0.0.98", 1])],
    "htable.setex": [("htable.seti", ["ipban", "10.0.0.98", 1])],
    "htable.get.int": [("htable.seti", ["ipban", "10.0.0.98", 1])],
    "htable.get.string": [("htable.sets", ["ipban", "10.0.0.99", "blocked"])],
    "htable.get.after_notification": [("htable.sets", ["ipban", "10.0.0.77", "note"])],
    "htable.dump.ipban": [
        ("htable.sets", ["ipban", "10.0.0.99", "blocked"]),
        ("htable.seti", ["ipban", "10.0.0.98", 1]),
    ],
    "htable.dump.ipban.after_pike": [
        ("htable.seti", ["ipban", "127.0.0.2", 1]),
        ("htable.sets", ["ipban", "10.0.0.77", "note"]),
    ],
    "htable.stats": [("htable.seti", ["ipban", "10.0.0.98", 1])],
    "ul.lookup.after_rm": [("ul.rm", ["location", "1003"])],
    "dlg.list.after_end_dlg": [("dlg.end_dlg", [4009, 947]), ("dlg.end_dlg", [3974, 1196])],
}

# Captured methods kamtool does not offer (Kamailio internals with no proxy equivalent).
NOT_IMPLEMENTED = {
    "core.flags",  # Kamailio's compile flags
    "permissions.testUri",  # allow_uri() rules files: kamtool has none
}


# Errors whose message names Kamailio internals: same code, our own message.
OWN_MESSAGE = {"tm.hash_stats"}


def _http_captures() -> list[str]:
    names = []
    for path in sorted(RPC_DIR.glob("*.json")):
        name = path.stem
        cap = load(name)
        if cap["transport"] != "http" or name.startswith("error."):
            continue
        if not isinstance(cap["request"], dict) or cap["request"]["method"] in NOT_IMPLEMENTED:
            continue
        names.append(name)
    return names


def _call(state: FakeState, request: dict) -> tuple[dict, int, str]:
    registry = state.registry()

    async def go():
        for method, params in SETUP.get(_current[0], []):
            body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 9})
            await handle_bytes(registry, body.encode())
        return await handle_bytes(registry, json.dumps(request).encode())

    reply = asyncio.run(go())
    # what the wire carries: big answers are made while they are printed (LazyList)
    return json.loads(kamjson.dumps(reply.body)), reply.status, reply.reason


_current = [""]


@pytest.mark.parametrize("name", _http_captures())
def test_answer_has_kamailios_shape(name: str) -> None:
    cap = load(name)
    state = FakeState()
    state.pike.hot = [PikeEntry("127.0.0.3", 0, 200, 4, "HOT")]
    _current[0] = name
    ours, status, reason = _call(state, cap["request"])
    ref = cap["response"]
    if "error" in ref:
        if name in OWN_MESSAGE:
            assert ours["error"]["code"] == ref["error"]["code"] == status, ours
            return
        assert ours.get("error") == ref["error"], ours
        assert (status, reason) == (
            cap["http_response"]["status"],
            cap["http_response"]["reason"],
        )
        return
    assert "result" in ours, ours
    assert list(ours) == list(ref)
    diff = shape_diff(ours["result"], ref["result"])
    assert not diff, diff
    assert status == 200


def test_coverage_of_captured_methods() -> None:
    """Every captured method is implemented or deliberately listed as not implemented."""
    registry = FakeState().registry()
    captured = {
        load(p.stem)["request"]["method"]
        for p in RPC_DIR.glob("*.json")
        if isinstance(load(p.stem)["request"], dict)
        and isinstance(load(p.stem)["request"].get("method"), str)
        and not p.stem.startswith("error.")
    }
    missing = captured - set(registry.names()) - NOT_IMPLEMENTED - {"no.such_method"}
    assert not missing


@pytest.mark.parametrize(
    "name",
    ["dlg.list", "ul.dump", "ul.lookup.location.1003", "dispatcher.list", "htable.get.int",
     "stats.fetchn.core", "core.echo", "error.unknown_method", "error.batch", "ul.rm"],
)  # fmt: skip
def test_printer_is_byte_exact(name: str) -> None:
    cap = load(name)
    assert kamjson.dumps(cap["response"]) == cap["response_raw"]


def test_printer_details() -> None:
    assert kamjson.dumps({}) == "{\n}"
    assert kamjson.dumps([]) == "[]"
    assert kamjson.dumps({"a": {}}) == '{\n\t"a":\t{\n\t}\n}'
    assert (
        kamjson.dumps([0.5, -1.0, 4294967295, 1e-9]) == "[0.500000, -1, 4294967295, 1.000000e-09]"
    )
    assert kamjson.dumps('a"b\\c\n\x01é') == '"a\\"b\\\\c\\n\\u0001é"'
    assert kamjson.dumps([True, False, None]) == "[true, false, null]"


def test_shape_comparator_catches_differences() -> None:
    assert same_shape({"a": 1, "b": [1, "x"]}, {"a": 2, "b": ["y", 3]})
    assert not same_shape({"b": 1, "a": 1}, {"a": 1, "b": 1})  # order
    assert not same_shape({"a": 1}, {"a": "1"})  # type
    assert not same_shape({"a": [{"x": 1}]}, {"a": [{"y": 1}]})  # nested keys
    assert not same_shape([1], {"a": 1})


def test_param_checks() -> None:
    state = FakeState()

    def call(method: str, *params):
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})
        return asyncio.run(handle_bytes(state.registry(), body.encode())).body

    add = ["location", "9", "sip:9@h", 60, 1, "", 0, 0, 0]
    assert call("ul.add", *add)["result"] == {}
    bad = call("ul.add", *add[:3], 2**40, *add[4:])["error"]
    assert bad == {
        "code": -32602,
        "message": "Invalid params: 'expires' must be an integer in [0, 2147483647]",
    }
    assert call("dlg.end_dlg", 2**64, 1)["error"]["code"] == -32602
    assert call("dlg.end_dlg", True, 1)["error"]["code"] == -32602
    assert call("core.echo", {"a": 1})["error"]["message"] == (
        "Invalid params: 'value' must be a string, number, boolean or null"
    )
    assert call("core.echo", 1, "x", None)["result"] == ["1", "x", "null"]


def test_proxy_dialog_objects_print_like_kamailio() -> None:
    """The proxy's own Dialog/Leg classes (not the fakes) give dlg.list's shape."""
    from kamtool.proxy.dialogs import Dialog, Leg
    from kamtool.rpc.methods.dlg import dialog_info

    d = Dialog(3974, 1196, "1-12180@127.0.0.1", "sip:1001@127.0.0.1", "sip:1002@127.0.0.1")
    d.state, d.start_ts, d.init_ts, d.timeout = 4, 1795693101, 1795693101, 1795700301
    d.caller = Leg("a", "sip:1001@127.0.0.1:5070", "2", "", "udp:127.0.0.1:5060")
    d.callee = Leg("b", "sip:127.0.0.1:5064;transport=UDP", "0", "", "udp:127.0.0.1:5060")
    d.profiles = [{"callee": "1002"}, {"caller": "1001"}, "inbound"]
    ref = capture("dlg.list")["result"]
    assert not shape_diff([dialog_info(d)], ref)
    unanswered = Dialog(1, 2, "c", "sip:a@h", "sip:b@h")
    assert dialog_info(unanswered)["callee"] == {
        "tag": None, "contact": None, "cseq": None, "route_set": None, "socket": None,
    }  # fmt: skip


def test_ul_dump_uses_a_snapshot_when_the_store_has_one() -> None:
    state = FakeState()
    calls: list[str] = []
    original = state.usrloc.get

    def counting_get(aor: str):
        calls.append(aor)
        return original(aor)

    state.usrloc.get = counting_get
    state.usrloc.snapshot = lambda: {a: list(r) for a, r in state.usrloc.records.items()}
    reg = state.registry()
    body = json.dumps({"jsonrpc": "2.0", "method": "ul.dump", "id": 1}).encode()
    dump = asyncio.run(handle_bytes(reg, body)).body["result"]
    assert calls == []
    assert dump["Domains"][0]["Domain"]["Stats"]["Records"] == 3
