"""The runtime commands against a real Kamailio 5.6, over HTTP, FIFO and datagram alike.

One Kamailio for the module: 127.0.0.1 is made a trusted source (address group 1, then
``kamtool address reload``) so calls skip digest auth, 1001 and 1002 register with
sipsak, and SIPp places a record-routed call 1001 -> 1002 through it. The tests then
read registrations, the dialog, statistics, dispatcher and htable state over each
transport, and finally end the call with ``kamtool dlg end --callid``: Kamailio sends
BYE to both SIPp sides, whose scenarios expect it.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.support.kamailio import Kamailio, kamailio_available
from tests.support.ports import free_port
from tests.support.require import unavailable

pytestmark = pytest.mark.kamailio

SIPP_DIR = Path(__file__).parent / "sipp"
TRANSPORTS = ["http", "fifo", "dgram"]


def _require_kamailio() -> None:
    if not kamailio_available():
        unavailable("kamailio 5.6 with the reference cfg is not installed (scripts/test does it)")


def url_of(k: Kamailio, transport: str) -> str:
    return {
        "http": k.rpc_http_url,
        "fifo": f"fifo:{k.fifo_path}",
        "dgram": f"unix:{k.dgram_path}",
    }[transport]


def kt(k: Kamailio, transport: str, *args: str):
    """``kamtool --json --rpc URL ARGS`` -> (exit status, parsed JSON or None, stderr)."""
    r = invoke("--json", "--rpc", url_of(k, transport), *args)
    try:
        doc = r.json()
    except ValueError:
        doc = None
    return r.exit_code, doc, r.stderr


def sipsak_register(k: Kamailio, user: str, port: int) -> None:
    res = subprocess.run(
        ["sipsak", "-U", "-C", f"sip:{user}@127.0.0.1:{port}", "-s",
         f"sip:{user}@127.0.0.1:{k.sip_port}", "-a", f"secret{user}", "-x", "600"],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr


def sipp(k: Kamailio, scenario: str, port: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["sipp", f"127.0.0.1:{k.sip_port}", "-sf", str(SIPP_DIR / scenario), "-m", "1",
         "-i", "127.0.0.1", "-p", str(port), "-nostdin", "-timeout", "120s", "-timeout_error",
         *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd="/tmp",
    )  # fmt: skip


def wait_for(predicate, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def udp_bound(port: int) -> bool:
    """True once something listens on UDP ``port`` (from /proc/net/udp)."""
    text = Path("/proc/net/udp").read_text()
    return f":{port:04X} " in text


@pytest.fixture(scope="module")
def call(tmp_path_factory):
    """Kamailio with 1001 and 1002 registered and a confirmed call 1001 -> 1002."""
    _require_kamailio()
    for tool in ("sipp", "sipsak"):
        if not __import__("shutil").which(tool):
            pytest.fail(f"{tool} is not installed")
    with Kamailio(tmp_path_factory.mktemp("kam")) as k:
        db = sqlite3.connect(k.db_file)
        db.execute(
            "INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (?, ?, ?, ?, ?)",
            (1, "127.0.0.1", 32, 0, "t"),
        )
        db.commit()
        db.close()
        code, doc, err = kt(k, "http", "address", "reload")
        assert code == 0 and doc["message"] == "Reload OK", err
        uac_port, uas_port = free_port(), free_port()
        sipsak_register(k, "1001", uac_port)
        sipsak_register(k, "1002", uas_port)
        uas = sipp(k, "uas_rr.xml", uas_port)
        wait_for(lambda: udp_bound(uas_port), "the SIPp UAS to bind its port")
        uac = sipp(k, "uac_rr.xml", uac_port, "-s", "1002")
        try:
            dialog = wait_for(
                lambda: [d for d in k.rpc("dlg.list") if d["state"] == 4], "a confirmed dialog"
            )[0]
            yield k, dialog, uac, uas
        finally:
            for proc in (uac, uas):
                if proc.poll() is None:
                    proc.kill()
                proc.wait(10)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ul_show(call, transport):
    k, _, _, _ = call
    code, rows, err = kt(k, transport, "ul", "show")
    assert code == 0, err
    by_aor = {r["aor"]: r for r in rows}
    assert set(by_aor) >= {"1001", "1002"}
    assert by_aor["1001"]["user_agent"].startswith("sipsak")
    code, one, _ = kt(k, transport, "ul", "show", "1002")
    assert code == 0 and one[0]["contact"].startswith("sip:1002@127.0.0.1:")
    assert kt(k, transport, "ul", "show", "4711")[0] == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ul_add_and_rm(call, transport):
    k, _, _, _ = call
    aor = f"77{TRANSPORTS.index(transport)}"
    contact = f"sip:{aor}@127.0.0.1:5999"
    code, _, err = kt(k, transport, "ul", "add", aor, contact, "--expires", "120", "--q", "0.3")
    assert code == 0, err
    (row,) = k.rpc("ul.lookup", "location", aor)["Contacts"]
    assert row["Contact"]["Address"] == contact and row["Contact"]["Q"] == 0.3
    assert kt(k, transport, "ul", "rm", aor)[0] == 0
    code, doc, _ = kt(k, transport, "ul", "show", aor)
    assert code == 3 or doc == []  # gone, or an empty record until usrloc's timer runs
    if transport == "fifo":
        assert kt(k, transport, "ul", "rm", "4711")[0] == 3
        assert kt(k, transport, "ul", "rm", "1001", "sip:nobody@127.0.0.1")[0] == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_dlg_list_and_show(call, transport):
    k, dialog, _, _ = call
    code, rows, err = kt(k, transport, "dlg", "list")
    assert code == 0, err
    (row,) = [r for r in rows if r["call_id"] == dialog["call-id"]]
    assert row["state_name"] == "confirmed"
    assert row["from_uri"] == "sip:1001@127.0.0.1" and row["to_uri"] == "sip:1002@127.0.0.1"
    assert set(row["profiles"]) == {"inbound", "caller=1001", "callee=1002"}
    if transport != "dgram":
        return  # the rest once: each kamtool call costs ~0.5 s of Typer start-up
    code, shown, _ = kt(k, transport, "dlg", "show", dialog["call-id"])
    assert code == 0 and shown[0]["h_id"] == dialog["h_id"]
    assert kt(k, transport, "dlg", "stats")[1]["all"] >= 1
    code, prof, _ = kt(k, transport, "dlg", "profile", "caller", "1001")
    assert code == 0 and prof["size"] == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stats(call, transport):
    k, _, _, _ = call
    code, rows, err = kt(k, transport, "stats", "usrloc:", "active_dialogs")
    assert code == 0, err
    values = {f"{r['group']}:{r['name']}": r["value"] for r in rows}
    assert values["usrloc:registered_users"] >= 2
    assert values["dialog:active_dialogs"] >= 1
    if transport == "fifo":
        code, _, _ = kt(k, transport, "stats", "--watch", "0.2", "--count", "1", "core:")
        assert code == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_dispatcher_list_and_set_state(call, transport):
    k, _, _, _ = call
    code, rows, err = kt(k, transport, "dispatcher", "list")
    assert code == 0, err
    assert [r["uri"] for r in rows if r["set_id"] == 1] == [
        "sip:127.0.0.1:5062", "sip:127.0.0.1:5063",
    ]  # fmt: skip
    assert (
        kt(k, transport, "dispatcher", "set-state", "disabled", "1", "sip:127.0.0.1:5063")[0] == 0
    )
    rows = kt(k, transport, "dispatcher", "list")[1]
    assert [r["state"] for r in rows if r["uri"] == "sip:127.0.0.1:5063"] == ["disabled"]
    assert kt(k, transport, "dispatcher", "set-state", "active", "1", "sip:nowhere")[0] == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_htable(call, transport):
    k, _, _, _ = call
    key = f"10.9.9.{TRANSPORTS.index(transport)}"
    assert kt(k, transport, "htable", "set", "ipban", key, "7", "--int")[0] == 0
    code, rows, err = kt(k, transport, "htable", "dump", "ipban")
    assert code == 0, err
    assert {"name": key, "value": 7, "type": "int"}.items() <= next(
        r for r in rows if r["name"] == key
    ).items()
    assert kt(k, transport, "htable", "get", "ipban", key)[1]["value"] == 7
    assert kt(k, transport, "htable", "rm", "ipban", key)[0] == 0
    if transport == "fifo":  # Kamailio's FIFO reader miscounts braces after a \"
        assert kt(k, transport, "htable", "set", "ipban", "k\\", 'v\\"}')[0] == 0
        assert kt(k, transport, "htable", "get", "ipban", "k\\")[1]["value"] == 'v\\"}'
        assert kt(k, transport, "version")[0] == 0  # and the FIFO still answers
    if transport == "http":
        assert kt(k, transport, "htable", "get", "ipban", key)[0] == 3
        assert kt(k, transport, "htable", "dump", "nosuch")[0] == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reloads_and_dumps(call, transport):
    k, _, _, _ = call
    code, rows, err = kt(k, transport, "address", "dump")
    assert code == 0, err
    assert {"group": 1, "ip": "127.0.0.1", "mask": 32, "port": 0, "tag": "t"} in rows
    # (address reload ran in the fixture; permissions refuses another within 5 s)
    assert kt(k, transport, "domain", "reload")[0] == 0
    assert kt(k, transport, "domain", "dump")[1] == [{"domain": "127.0.0.1", "did": "127.0.0.1"}]
    assert kt(k, transport, "htable", "reload", "kv")[0] == 0
    if transport != "http":
        return
    # no trusted table in this cfg: refused instead of crashing Kamailio 5.6.3
    assert kt(k, transport, "trusted", "reload")[0] == 3
    assert k.rpc("core.version").startswith("kamailio")
    code, doc, _ = kt(k, transport, "debug", "3")
    assert code == 0 and doc["debug"] == 3
    assert kt(k, transport, "debug", "2")[1]["previous"] == 3


def test_dispatcher_reload_and_kamailios_reload_delta(call):
    k, _, _, _ = call
    code, doc, err = kt(k, "fifo", "dispatcher", "reload")
    assert code == 0 and "reloaded" in doc["message"], err
    code, doc, _ = kt(k, "http", "dispatcher", "reload")  # within 5 s: Kamailio refuses
    assert code == 7
    assert doc["error"]["details"]["rpc_code"] == 500
    assert doc["error"]["details"]["rpc_message"] == "Ongoing reload"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_core_info(call, transport):
    k, _, _, _ = call
    assert kt(k, transport, "version")[1]["version"] == "kamailio 5.6.3 (x86_64/linux)"
    code, doc, _ = kt(k, transport, "rpc", "no.such_method")
    assert code == 7 and doc["error"]["details"]["rpc_code"] == 500


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_one_client_many_threads(call, transport):
    """The monitor shares one client between worker threads."""
    from kamtool.rpc.client import RpcClient
    from tests.support.threads import errors_in_threads

    k, _, _, _ = call
    with RpcClient(url_of(k, transport), timeout=10) as client:

        def work() -> None:
            for _ in range(15):
                assert client.call("core.uptime")["uptime"] >= 0
                assert client.call("ul.dump", "brief")["Domains"]

        assert errors_in_threads(work) == []


def test_ps_uptime(call):
    k, _, _, _ = call
    ps = kt(k, "fifo", "ps")[1]
    assert "JSONRPCS FIFO" in [p["description"] for p in ps]
    assert kt(k, "dgram", "uptime")[1]["uptime"] >= 0


def test_zz_dlg_end_sends_bye_to_both_sides(call):
    """Last in the module: ends the call the other tests looked at."""
    k, dialog, uac, uas = call
    code, doc, err = kt(k, "dgram", "dlg", "end", "--callid", dialog["call-id"])
    assert code == 0, err
    assert doc["ended"] == [f"{dialog['h_entry']}:{dialog['h_id']}"]
    # The caller's scenario passes only after receiving the BYE. The callee's usually does
    # too, but in about one run in five Kamailio 5.6.3 sends no BYE on the callee leg
    # (its log: "send_bye(): terminating non-confirmed dialogs not supported", although
    # dlg.list showed the dialog confirmed): that is Kamailio's, so the callee is only
    # stopped here. kamtool's own proxy is held to both BYEs in tests/proxy.
    try:
        rc = uac.wait(40)
    except subprocess.TimeoutExpired:
        uac.kill()
        rc = "timeout"
    assert rc == 0, (uac.stderr.read() if uac.stderr else "") + k.log_text()[-3000:]
    try:
        uas.wait(10)
    except subprocess.TimeoutExpired:
        uas.kill()
    wait_for(lambda: not [d for d in k.rpc("dlg.list") if d["state"] == 4], "the dialog to end")
    assert kt(k, "http", "dlg", "end", str(dialog["h_entry"]), str(dialog["h_id"]))[0] == 3
