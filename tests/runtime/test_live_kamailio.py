"""The runtime commands against a real Kamailio 5.6 and against kamtool's own proxy, over
HTTP, FIFO and datagram alike, with the same expectations.

One server per target for the module (the ``target`` fixture, tests/runtime/conftest.py):
127.0.0.1 is a trusted source (address group 1, then ``permissions.addressReload``) so
calls skip digest auth, 1001 and 1002 register with sipsak, and SIPp places a
record-routed call 1001 -> 1002 through it. The tests then read registrations, the
dialog, statistics, dispatcher and htable state over each transport, and finally end the
call with ``kamtool dlg end --callid``: the server sends BYE to both SIPp sides, whose
scenarios expect it. Where the targets legitimately differ, the test reads the
difference from the target (tests/support/targets.py), never skips.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.support.ports import free_port
from tests.support.require import unavailable
from tests.support.targets import KV_KEY, KV_VALUE, TRANSPORTS, Target

pytestmark = pytest.mark.sipp

SIPP_DIR = Path(__file__).parent / "sipp"


def kt(t: Target, transport: str, *args: str):
    """``kamtool --json --rpc URL ARGS`` -> (exit status, parsed JSON or None, stderr)."""
    r = invoke("--json", "--rpc", t.url(transport), *args)
    try:
        doc = r.json()
    except ValueError:
        doc = None
    return r.exit_code, doc, r.stderr


def sipp(t: Target, scenario: str, port: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["sipp", f"127.0.0.1:{t.sip_port}", "-sf", str(SIPP_DIR / scenario), "-m", "1",
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


def finished(proc: subprocess.Popen, timeout: float) -> int | str:
    """``proc``'s exit status, or "timeout" (then it is killed)."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return "timeout"


@pytest.fixture(scope="module")
def call(target: Target):
    """The target with 1001 and 1002 registered and a confirmed call 1001 -> 1002."""
    for tool in ("sipp", "sipsak"):
        if not shutil.which(tool):
            unavailable(f"{tool} is not installed")
    uac_port, uas_port = free_port(), free_port()
    target.sipsak_register("1001", uac_port)
    target.sipsak_register("1002", uas_port)
    uas = sipp(target, "uas_rr.xml", uas_port)
    wait_for(lambda: udp_bound(uas_port), "the SIPp UAS to bind its port")
    uac = sipp(target, "uac_rr.xml", uac_port, "-s", "1002")
    try:
        dialog = wait_for(
            lambda: [d for d in target.rpc("dlg.list") if d["state"] == 4], "a confirmed dialog"
        )[0]
        yield target, dialog, uac, uas
    finally:
        for proc in (uac, uas):
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ul_show(call, transport):
    t, _, _, _ = call
    code, rows, err = kt(t, transport, "ul", "show")
    assert code == 0, err
    by_aor = {r["aor"]: r for r in rows}
    assert set(by_aor) >= {"1001", "1002"}
    assert by_aor["1001"]["user_agent"].startswith("sipsak")
    code, one, _ = kt(t, transport, "ul", "show", "1002")
    assert code == 0 and one[0]["contact"].startswith("sip:1002@127.0.0.1:")
    assert kt(t, transport, "ul", "show", "4711")[0] == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ul_add_and_rm(call, transport):
    t, _, _, _ = call
    aor = f"77{TRANSPORTS.index(transport)}"
    contact = f"sip:{aor}@127.0.0.1:5999"
    code, _, err = kt(t, transport, "ul", "add", aor, contact, "--expires", "120", "--q", "0.3")
    assert code == 0, err
    (row,) = t.rpc("ul.lookup", "location", aor)["Contacts"]
    assert row["Contact"]["Address"] == contact and row["Contact"]["Q"] == 0.3
    assert kt(t, transport, "ul", "rm", aor)[0] == 0
    code, doc, _ = kt(t, transport, "ul", "show", aor)
    # gone; or, when usrloc's write-back timer stored the contact between add and rm,
    # an empty record until its next run (both servers keep it for the DB delete)
    assert code == 3 or doc == []
    if transport == "fifo":
        assert kt(t, transport, "ul", "rm", "4711")[0] == 3
        assert kt(t, transport, "ul", "rm", "1001", "sip:nobody@127.0.0.1")[0] == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_dlg_list_and_show(call, transport):
    t, dialog, _, _ = call
    code, rows, err = kt(t, transport, "dlg", "list")
    assert code == 0, err
    (row,) = [r for r in rows if r["call_id"] == dialog["call-id"]]
    assert row["state_name"] == "confirmed"
    assert row["from_uri"] == "sip:1001@127.0.0.1" and row["to_uri"] == "sip:1002@127.0.0.1"
    assert set(row["profiles"]) == {"inbound", "caller=1001", "callee=1002"}
    if transport != "dgram":
        return  # the rest once: each kamtool call costs ~0.5 s of Typer start-up
    code, shown, _ = kt(t, transport, "dlg", "show", dialog["call-id"])
    assert code == 0 and shown[0]["h_id"] == dialog["h_id"]
    assert kt(t, transport, "dlg", "stats")[1]["all"] >= 1
    code, prof, _ = kt(t, transport, "dlg", "profile", "caller", "1001")
    assert code == 0 and prof["size"] == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stats(call, transport):
    t, _, _, _ = call
    code, rows, err = kt(t, transport, "stats", "usrloc:", "active_dialogs")
    assert code == 0, err
    values = {f"{r['group']}:{r['name']}": r["value"] for r in rows}
    assert values["usrloc:registered_users"] >= 2
    assert values["dialog:active_dialogs"] >= 1
    if transport == "fifo":
        code, _, _ = kt(t, transport, "stats", "--watch", "0.2", "--count", "1", "core:")
        assert code == 0
    if transport != "http":
        return
    # the counters of the registrations (each challenged once) and of the call's replies
    code, rows, err = kt(t, transport, "stats", "sl:", "core:")
    assert code == 0, err
    values = {f"{r['group']}:{r['name']}": r["value"] for r in rows}
    assert values["sl:401_replies"] >= 2
    # a class counter holds only the codes without their own counter: nothing here
    assert values["sl:4xx_replies"] == values["sl:2xx_replies"] == 0
    assert values["sl:sent_err_replies"] == 0  # only sl_reply_error's answers
    assert values["core:rcv_replies_18x"] == values["core:rcv_replies_1xx_invite"] == 1
    assert values["core:rcv_replies_2xx_invite"] >= 1  # 200 OK, perhaps retransmitted
    assert values["core:rcv_replies_2xx"] == values["core:rcv_replies_2xx_invite"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_dispatcher_list_and_set_state(call, transport):
    t, _, _, _ = call
    code, rows, err = kt(t, transport, "dispatcher", "list")
    assert code == 0, err
    assert [r["uri"] for r in rows if r["set_id"] == 1] == [
        "sip:127.0.0.1:5062", "sip:127.0.0.1:5063",
    ]  # fmt: skip
    assert (
        kt(t, transport, "dispatcher", "set-state", "disabled", "1", "sip:127.0.0.1:5063")[0] == 0
    )
    rows = kt(t, transport, "dispatcher", "list")[1]
    assert [r["state"] for r in rows if r["uri"] == "sip:127.0.0.1:5063"] == ["disabled"]
    assert kt(t, transport, "dispatcher", "set-state", "active", "1", "sip:nowhere")[0] == 3
    if transport == "dgram":  # probing: read, switched off and on again
        assert kt(t, transport, "rpc", "dispatcher.ping_active")[1] == {"OldPingState": 1}
        code, doc, _ = kt(t, transport, "rpc", "dispatcher.ping_active", "0")
        assert code == 0 and doc == {"NewPingState": 0, "OldPingState": 1}
        assert t.rpc("dispatcher.ping_active", 1) == {"NewPingState": 1, "OldPingState": 0}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_htable(call, transport):
    t, _, _, _ = call
    key = f"10.9.9.{TRANSPORTS.index(transport)}"
    assert kt(t, transport, "htable", "set", "ipban", key, "7", "--int")[0] == 0
    code, rows, err = kt(t, transport, "htable", "dump", "ipban")
    assert code == 0, err
    assert {"name": key, "value": 7, "type": "int"}.items() <= next(
        r for r in rows if r["name"] == key
    ).items()
    assert kt(t, transport, "htable", "get", "ipban", key)[1]["value"] == 7
    assert kt(t, transport, "htable", "rm", "ipban", key)[0] == 0
    if transport == "fifo":  # Kamailio's FIFO reader miscounts braces after a \"
        assert kt(t, transport, "htable", "set", "ipban", "k\\", 'v\\"}')[0] == 0
        assert kt(t, transport, "htable", "get", "ipban", "k\\")[1]["value"] == 'v\\"}'
        assert kt(t, transport, "version")[0] == 0  # and the FIFO still answers
    if transport == "http":
        assert kt(t, transport, "htable", "get", "ipban", key)[0] == 3
        assert kt(t, transport, "htable", "dump", "nosuch")[0] == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reloads_and_dumps(call, transport):
    t, _, _, _ = call
    code, rows, err = kt(t, transport, "address", "dump")
    assert code == 0, err
    assert {"group": 1, "ip": "127.0.0.1", "mask": 32, "port": 0, "tag": "t"} in rows
    # (address reload ran in the fixture; test_reload_delta holds both to its 5 s limit)
    assert kt(t, transport, "domain", "reload")[0] == 0
    assert kt(t, transport, "domain", "dump")[1] == [{"domain": "127.0.0.1", "did": "127.0.0.1"}]
    assert kt(t, transport, "htable", "reload", "kv")[0] == 0
    # the row written to the database after start is there only thanks to the reload
    assert kt(t, transport, "htable", "get", "kv", KV_KEY)[1]["value"] == KV_VALUE
    if transport != "http":
        return
    assert kt(t, transport, "trusted", "reload")[0] == (0 if t.trusted_table_loaded else 3)
    code, doc, _ = kt(t, transport, "debug", "3")
    assert code == 0 and doc["debug"] == 3
    assert kt(t, transport, "debug", "2")[1]["previous"] == 3


def test_reload_delta(call):
    """dispatcher and permissions take one reload in 5 s (their ``reload_delta``); the
    next one within 5 s is refused with 500 "Ongoing reload" (seen with the raw `kamtool
    rpc`), and kamtool's reload commands wait that out and retry (issue 13)."""
    t, _, _, _ = call
    code, doc, err = kt(t, "fifo", "dispatcher", "reload")
    assert code == 0 and "reloaded" in doc["message"], err
    code, doc, _ = kt(t, "http", "rpc", "dispatcher.reload")  # within 5 s: refused
    assert code == 7
    assert doc["error"]["details"]["rpc_code"] == 500
    assert doc["error"]["details"]["rpc_message"] == "Ongoing reload"
    code, doc, err = kt(t, "http", "dispatcher", "reload")  # waits for the guard
    assert code == 0 and "reloaded" in doc["message"], err
    # the first address reload may fall within 5 s of the fixture's; the next one cannot
    assert kt(t, "dgram", "address", "reload")[0] == 0
    code, doc, _ = kt(t, "dgram", "rpc", "permissions.addressReload")
    assert code == 7
    assert doc["error"]["details"]["rpc_code"] == 500
    assert doc["error"]["details"]["rpc_message"] == "ongoing reload"  # permissions' words


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_core_info(call, transport):
    t, _, _, _ = call
    assert kt(t, transport, "version")[1]["version"] == t.version
    assert t.rpc("core.version").rstrip() == t.version  # Kamailio ends it with a space
    code, doc, _ = kt(t, transport, "rpc", "no.such_method")
    assert code == 7 and doc["error"]["details"]["rpc_code"] == 500


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_one_client_many_threads(call, transport):
    """The monitor shares one client between worker threads."""
    from kamtool.rpc.client import RpcClient
    from tests.support.threads import errors_in_threads

    t, _, _, _ = call
    with RpcClient(t.url(transport), timeout=10) as client:

        def work() -> None:
            for _ in range(15):
                assert client.call("core.uptime")["uptime"] >= 0
                assert client.call("ul.dump", "brief")["Domains"]

        assert errors_in_threads(work) == []


def test_ps_uptime(call):
    t, _, _, _ = call
    ps = kt(t, "fifo", "ps")[1]
    assert "JSONRPCS FIFO" in [p["description"] for p in ps]
    assert kt(t, "dgram", "uptime")[1]["uptime"] >= 0


def test_zz_dlg_end_sends_bye_to_both_sides(call):
    """Last in the module: ends the call the other tests looked at."""
    t, dialog, uac, uas = call
    code, doc, err = kt(t, "dgram", "dlg", "end", "--callid", dialog["call-id"])
    assert code == 0, err
    assert doc["ended"] == [f"{dialog['h_entry']}:{dialog['h_id']}"]
    # Both SIPp scenarios pass only after receiving their BYE. Kamailio sometimes leaves
    # out the callee's (see Target.callee_bye_always): there the callee is only stopped.
    rc = finished(uac, 40)
    assert rc == 0, (uac.stderr.read() if uac.stderr else "") + t.log_text()[-3000:]
    rc = finished(uas, 10)
    if t.callee_bye_always:
        assert rc == 0, (uas.stderr.read() if uas.stderr else "") + t.log_text()[-3000:]
    wait_for(lambda: not [d for d in t.rpc("dlg.list") if d["state"] == 4], "the dialog to end")
    # the BYEs are transactions of the server's own (Kamailio adds its dispatcher probes)
    assert t.rpc("tm.stats")["total_local"] >= (2 if t.callee_bye_always else 1)
    assert kt(t, "http", "dlg", "end", str(dialog["h_entry"]), str(dialog["h_id"]))[0] == 3
