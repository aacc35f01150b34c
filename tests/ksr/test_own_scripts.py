"""Route scripts written for kamtool's tests (tests/ksr/scripts/): reloading a script over
JSON-RPC on both servers, and an app_python3s-style script (module-level functions) on
``kamtool serve --route``; Debian's Kamailio 5.6 ships no app_python3s module to compare."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.interop.wire import Peer, register
from tests.ksr.conftest import TARGETS
from tests.ksr.outside import sipsak_register
from tests.support.cli import invoke
from tests.support.kemi import kemi_server
from tests.support.ports import low_free_port

SCRIPTS = Path(__file__).with_name("scripts")


def options_reason(target) -> str:
    with Peer("udp", target.sip_port) as p:
        r = p.ask(p.request("OPTIONS", f"sip:127.0.0.1:{target.sip_port}"))
    assert r.status == 200, r.first
    return r.reason


@pytest.mark.parametrize("name", TARGETS)
def test_app_python_reload_runs_the_changed_script(name, tmp_path):
    """``kamtool rpc app_python.reload`` (app_python3's method name in Kamailio 5.6)
    answers the reload counter; the next request runs the script as it is on disk now."""
    script = tmp_path / "route.py"
    shutil.copy(SCRIPTS / "reply_reason.py", script)
    with kemi_server(name, tmp_path, script) as t:
        assert options_reason(t) == "first"
        script.write_text(script.read_text().replace('REASON = "first"', 'REASON = "second"'))
        assert options_reason(t) == "first"  # nothing changes before the reload
        r = invoke("--json", "--rpc", t.dgram_url, "rpc", "app_python.reload")
        assert r.exit_code == 0, r.stderr
        assert r.json() == {"old": 0, "new": 1}
        assert options_reason(t) == "second"
        r = invoke("--json", "--rpc", t.dgram_url, "rpc", "app_python.reload")
        assert r.exit_code == 0 and r.json() == {"old": 1, "new": 2}, r.stderr
        # the name issue 11 gives: no method of Kamailio 5.6; kamtool serves it as an alias
        other = invoke("--json", "--rpc", t.dgram_url, "rpc", "app_python3.reload")
        if name == "kamailio":
            assert other.exit_code == 7
            assert other.json()["error"]["details"]["rpc_message"] == "Method Not Found"
        else:
            assert other.exit_code == 0 and other.json() == {"old": 2, "new": 3}, other.stderr


def test_module_level_script_on_kamtool(tmp_path):
    """app_python3s's style: ``ksr_request_route()`` at module level, no ``mod_init()``.
    Registration with digest, the script's own 403 for one From user, a MESSAGE relayed to
    a registered user with the script's header, 404 for an unknown one."""
    script = SCRIPTS / "module_level.py"
    with kemi_server("kamtool", tmp_path, script, sip_port=low_free_port()) as t:
        assert options_reason(t) == "Alive"
        port = low_free_port()
        res = sipsak_register(t.sip_port, "1001", port)
        assert res.returncode == 0, res.stdout + res.stderr
        assert [r["contact"] for r in t.location_rows("1001")] == [f"sip:1001@127.0.0.1:{port}"]
        with Peer("udp", t.sip_port) as p:
            r = p.ask(p.request("MESSAGE", "sip:1002@127.0.0.1", from_user="1003"))
            assert (r.status, r.reason) == (403, "Blocked by script")
            r = p.ask(p.request("MESSAGE", "sip:4711@127.0.0.1", from_user="1001"))
            assert (r.status, r.reason) == (404, "Not Found")
        with Peer("udp", t.sip_port) as uas, Peer("udp", t.sip_port) as caller:
            ok = register(uas, "1002", [f"Contact: {uas.contact('1002')}", "Expires: 600"])
            assert ok.status == 200, ok.first
            caller.send(caller.request("MESSAGE", "sip:1002@127.0.0.1", from_user="1001"))
            req = uas.recv()
            while req.status:  # skip anything but the request
                req = uas.recv()
            assert req.method == "MESSAGE"
            assert req.all("x-route-style") == ["app_python3s"]
            uas.reply_to(req, 200, "OK")
            final = caller.recv()
            while final.status < 200:
                final = caller.recv()
            assert final.status == 200
