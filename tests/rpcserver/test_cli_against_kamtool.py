"""kamtool's own CLI against kamtool's RPC server, over HTTP, FIFO and datagram: the
runtime commands the RPC client issue proves against a real Kamailio (tests/runtime)
give the same results here (state: the captures' demo state, see fakes.py)."""

from __future__ import annotations

import pytest

from tests.rpcserver.conftest import ServerThread
from tests.support.cli import invoke


def kt(url: str, *args: str):
    r = invoke("--json", "--rpc", url, *args)
    try:
        doc = r.json()
    except ValueError:
        doc = None
    return r.exit_code, doc, r.stderr


def urls(rpc: ServerThread) -> dict[str, str]:
    return {
        "http": rpc.server.url,
        "fifo": f"fifo:{rpc.server.fifo_path}?reply_dir={rpc.server.fifo.reply_dir}",
        "dgram": f"unix:{rpc.server.dgram_path}",
    }


@pytest.mark.parametrize("transport", ["http", "fifo", "dgram"])
def test_ul_and_version_over_each_transport(rpc: ServerThread, transport: str) -> None:
    url = urls(rpc)[transport]
    code, rows, err = kt(url, "ul", "show")
    assert code == 0, err
    assert {r["aor"] for r in rows} == {"1001", "1002", "1003"}
    assert kt(url, "ul", "show", "4711")[0] == 3
    assert kt(url, "version")[1]["version"].startswith("kamtool ")


def test_runtime_commands(rpc: ServerThread, state) -> None:
    url = rpc.server.url
    code, _, err = kt(url, "ul", "add", "771", "sip:771@127.0.0.1:5999", "--q", "0.3")
    assert code == 0, err
    assert rpc.call(lambda: state.usrloc.get("771")[0].q) == 0.3
    assert kt(url, "ul", "rm", "1001", "sip:nobody@127.0.0.1")[0] == 3

    code, rows, err = kt(url, "dlg", "list")
    assert code == 0, err
    row = next(r for r in rows if r["call_id"] == "1-12180@127.0.0.1")
    assert set(row["profiles"]) == {"inbound", "caller=1001", "callee=1002"}

    values = {
        f"{r['group']}:{r['name']}": r["value"]
        for r in kt(url, "stats", "usrloc:", "active_dialogs")[1]
    }
    assert values["usrloc:registered_users"] == 4  # 1001-1003 and 771

    code, rows, _ = kt(url, "dispatcher", "list")
    assert [r["uri"] for r in rows if r["set_id"] == 1] == [
        "sip:127.0.0.1:5062",
        "sip:127.0.0.1:5063",
    ]
    assert kt(url, "dispatcher", "set-state", "disabled", "1", "sip:127.0.0.1:5063")[0] == 0
    assert kt(url, "dispatcher", "set-state", "active", "1", "sip:nowhere")[0] == 3

    assert kt(url, "htable", "set", "ipban", "10.9.9.1", "7", "--int")[0] == 0
    assert kt(url, "htable", "get", "ipban", "10.9.9.1")[1]["value"] == 7
    assert kt(url, "htable", "dump", "nosuch")[0] == 3

    assert {"group": 1, "ip": "10.0.0.10", "mask": 32, "port": 5060, "tag": "trusted-gw"} in kt(
        url, "address", "dump"
    )[1]
    code, doc, _ = kt(url, "debug", "3")
    assert code == 0 and doc == {"debug": 3, "previous": 2}
    code, doc, _ = kt(url, "rpc", "no.such_method")
    assert code == 7 and doc["error"]["details"]["rpc_code"] == 500
    code, doc, _ = kt(url, "dlg", "end", "--callid", "1-12442@127.0.0.1")
    assert code == 0 and doc["ended"] == ["3145:3692"]
    assert rpc.call(lambda: state.dialogs.ended) == [(3145, 3692)]
