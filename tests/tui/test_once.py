"""``kamtool monitor --once [--json]``: one sample of everything, no textual needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kamtool.tui.capture import FakeSource
from tests.support.cli import invoke
from tests.tui.fake import CAPTURES

KEYS = {
    "target", "taken_at", "version", "uptime", "stats", "transactions", "contacts", "dialogs",
    "dispatcher", "bans", "pike_top", "websockets", "errors", "traffic_totals", "health",
    "status",
}  # fmt: skip


@pytest.fixture
def fake(monkeypatch):
    source = FakeSource(CAPTURES)
    seen = {}

    def rpc_source(url, *, timeout, token):
        seen.update(url=url, timeout=timeout, token=token)
        return source

    monkeypatch.setattr("kamtool.tui.source.rpc_source", rpc_source)
    source.seen = seen
    return source


def test_once_json_prints_every_section(fake):
    r = invoke("monitor", "--once", "--json", "--rpc", "http://127.0.0.1:9/RPC")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    assert set(data) == KEYS
    assert fake.seen["url"] == "http://127.0.0.1:9/RPC"
    assert data["version"] == "kamailio 5.6.3 (x86_64/linux)"
    assert data["uptime"] == 185
    assert {(c["aor"], c["address"]) for c in data["contacts"]} >= {
        ("1001", "sip:1001@127.0.0.1:5067"),
        ("1003", "sip:1003@127.0.0.1:5068;transport=UDP"),
    }
    assert [(d["h_entry"], d["h_id"]) for d in data["dialogs"]][0] == (3145, 3692)
    assert [(d["set_id"], d["state"]) for d in data["dispatcher"]] == [
        (1, "active"), (1, "inactive"), (2, "inactive"),
    ]  # fmt: skip
    assert {b["address"]: b["expires"] for b in data["bans"]} == {
        "10.0.0.99": 306,
        "10.0.0.98": 126,
    }
    assert data["pike_top"][0]["address"] == "127.0.0.3"
    assert data["stats"]["core:rcv_requests"] == 77
    assert data["traffic_totals"]["requests"] == 77
    levels = {h["name"]: h["level"] for h in data["health"]}
    assert levels["dispatcher"] == "CRITICAL" and data["status"] == "CRITICAL"
    assert data["errors"] == {}
    # reads only: --once never acts on the server
    assert fake.client.actions() == []


def test_once_text_summary(fake):
    r = invoke("monitor", "--once")
    assert r.exit_code == 0, r.stderr
    assert "kamailio 5.6.3" in r.stdout and "CRITICAL" in r.stdout
    assert "contacts 4, dialogs 3" in r.stdout


def test_json_alone_means_one_sample(fake):
    assert set(invoke("--json", "monitor").json()) == KEYS
    assert set(invoke("monitor", "--json").json()) == KEYS


def test_once_unreachable_exits_6(fake):
    fake.client.down = True
    r = invoke("--json", "monitor", "--once")
    assert r.exit_code == 6
    assert r.json()["error"]["code"] == "rpc_unavailable"


def test_once_notes_a_missing_module(fake):
    from kamtool.errors import RpcError

    fake.client.results["dlg.list"] = RpcError(500, "Method Not Found")
    data = invoke("monitor", "--once", "--json").json()
    assert data["errors"] == {"dialogs": "Method Not Found"}
    assert data["dialogs"] == []


def test_live_monitor_without_a_terminal_points_to_once(fake):
    r = invoke("monitor")
    assert r.exit_code == 2
    assert "terminal" in r.stderr and "--once" in r.stderr


def test_bad_interval_is_a_usage_error():
    r = invoke("monitor", "--interval", "0")
    assert r.exit_code == 2


def test_once_json_does_not_import_textual():
    code = (
        "import sys\n"
        "from kamtool.tui import source\n"
        "from kamtool.tui.capture import FakeSource\n"
        f"source.rpc_source = lambda url, **kw: FakeSource({str(CAPTURES)!r})\n"
        "from kamtool.cli.main import main\n"
        "rc = main(['monitor', '--once', '--json'])\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write(f'{rc} ' + ','.join(m for m in sys.modules if m.startswith('textual')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stderr.strip() == "0", proc.stderr[-2000:]
    assert '"contacts"' in proc.stdout
