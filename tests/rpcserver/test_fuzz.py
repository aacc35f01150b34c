"""A bounded fuzz of the HTTP endpoint: arbitrary bodies and JSON-RPC-like documents never
hang or crash the server; every answer is JSON-RPC 2.0 (or 204 for notification batches)."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.rpcserver.conftest import ServerThread

METHODS = [
    "core.version", "core.echo", "ul.lookup", "ul.rm", "ul.rm_contact", "ul.add", "dlg.end_dlg",
    "dlg.profile_list", "htable.seti", "htable.sets", "htable.get", "htable.dump",
    "htable.delete", "cfg.seti", "cfg.sets", "cfg.get", "stats.get_statistics",
    "stats.clear_statistics", "dispatcher.set_state", "pike.top", "system.methodHelp", "x",
]  # fmt: skip

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
    st.text(max_size=20),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)  # fmt: skip
requests = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.0", "1.0"]), "method": st.sampled_from(METHODS)},
    optional={"id": scalars, "params": st.lists(scalars, max_size=10) | values},
)
bodies = st.one_of(
    st.binary(max_size=200),
    requests.map(lambda r: json.dumps(r).encode()),
    st.lists(requests, max_size=5).map(lambda r: json.dumps(r).encode()),
    values.map(lambda v: json.dumps(v).encode()),
)


def test_fuzz_http_endpoint(rpc: ServerThread) -> None:
    url = f"http://127.0.0.1:{rpc.server.port}/RPC"
    with httpx.Client(timeout=5.0) as client:

        @settings(
            max_examples=200,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(body=bodies)
        def one(body: bytes) -> None:
            r = client.post(url, content=body)
            if r.status_code == 204:
                return
            reply = r.json()
            answers = reply if isinstance(reply, list) else [reply]
            for a in answers:
                assert a["jsonrpc"] == "2.0"
                assert ("result" in a) != ("error" in a)
                if "error" in a:
                    assert isinstance(a["error"]["code"], int) and a["error"]["message"]
                    assert a["error"]["code"] != -32603, a  # no method crashed

        one()
    # still alive and sane afterwards
    r = httpx.post(url, json={"jsonrpc": "2.0", "method": "core.version", "id": 1}, timeout=5)
    assert r.json()["result"].startswith("kamtool")
