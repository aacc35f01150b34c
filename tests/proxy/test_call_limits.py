"""Call limits on the dialog profiles: real SIPp calls held open through the proxy, the
call over the limit refused before it is relayed, a new call accepted once a BYE ended one,
and ``dlg.profile_get_size`` agreeing with what the limits count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kamtool.config import load_settings
from kamtool.errors import ConfigError
from kamtool.proxy.config import ProxyConfig, proxy_config
from tests.proxy import harness
from tests.proxy.conftest import need
from tests.proxy.harness import SIPP_DIR, caller_args, explain, register, wait_for
from tests.proxy.peers import sipp_uas, stop
from tests.support.cli import invoke
from tests.support.ports import free_port

pytestmark = pytest.mark.sipp


def rpc(port: int, method: str, *params):
    body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
    return httpx.post(f"http://127.0.0.1:{port}/RPC", json=body, timeout=10).json()["result"]


def refused_scenario(tmp_path: Path, status: int) -> str:
    """uac_busy.xml expecting ``status`` instead of 486 (the proxy's own refusal)."""
    text = (SIPP_DIR / "uac_busy.xml").read_text()
    path = tmp_path / f"uac_refused_{status}.xml"
    path.write_text(text.replace('<recv response="486"/>', f'<recv response="{status}"/>'))
    return str(path)


def calls_through(proxy, scenario: str = "uac_call.xml", **who) -> None:
    """One call with ``scenario`` (1001 -> 1002 unless told otherwise) that must complete."""
    res = harness.call(proxy.port, scenario, **who)
    assert res.returncode == 0, explain(res)


class HeldCalls:
    """Callers (uac_wait_bye.xml) whose calls stay up until the proxy ends them."""

    def __init__(self, proxy, rpc_port: int) -> None:
        self.proxy, self.rpc_port = proxy, rpc_port
        self.procs: list[subprocess.Popen[str]] = []

    def open(self, caller: str = "1001", callee: str = "1002") -> None:
        n = len(self.procs) + 1
        self.procs.append(
            harness.sipp_background(
                "uac_wait_bye.xml", self.proxy.port, free_port(), **caller_args(callee, caller)
            )  # fmt: skip
        )
        assert wait_for(lambda: self.confirmed() == n), explain_all(self.procs)

    def confirmed(self) -> int:
        return sum(d["state"] == 4 for d in rpc(self.rpc_port, "dlg.list"))

    def end_one(self) -> None:
        """dlg.end_dlg on one held call: BYE both ways; its caller must finish (which
        one: dlg.list is in hash table order, as Kamailio's, not in call order)."""
        d = next(d for d in rpc(self.rpc_port, "dlg.list") if d["state"] == 4)
        assert rpc(self.rpc_port, "dlg.end_dlg", d["h_entry"], d["h_id"]) == {}
        assert wait_for(lambda: any(p.poll() is not None for p in self.procs), 20)
        proc = next(p for p in self.procs if p.poll() is not None)
        self.procs.remove(proc)
        assert proc.wait(20) == 0, proc.communicate()[0][-3000:]

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.communicate(timeout=10)


def explain_all(procs) -> str:
    return "; ".join(f"sipp {p.pid} exit {p.poll()}" for p in procs)


@pytest.fixture
def limited(start_proxy, tmp_path):
    """start(**limits) -> (proxy, rpc_port, held calls); 1002 registered and answering."""
    need("sipp")
    held: list[HeldCalls] = []
    uas: list[subprocess.Popen[str]] = []

    def start(**limits):
        rpc_port = free_port()
        proxy = start_proxy(rpc_listen=f"127.0.0.1:{rpc_port}",
                            rpc_runtime_dir=str(tmp_path / "rt"), **limits)  # fmt: skip
        uas_port = free_port()
        register(proxy.port, "1002", uas_port)
        uas.append(sipp_uas("uas_answer.xml", uas_port))
        held.append(HeldCalls(proxy, rpc_port))
        return proxy, rpc_port, held[-1]

    yield start
    for h in held:
        h.close()
    for proc in uas:
        stop(proc)


def test_caller_limit_refuses_the_next_call_until_a_bye(limited, tmp_path):
    proxy, rpc_port, held = limited(max_calls_per_caller=2)
    held.open()
    held.open()
    assert rpc(rpc_port, "dlg.profile_get_size", "caller", "1001") == 2
    # the third concurrent call of 1001 is refused, before anything is relayed to 1002
    invites_before = proxy.stat("core:fwd_requests")
    calls_through(proxy, refused_scenario(tmp_path, 403))
    assert proxy.stat("dlglimit:caller_refused") == 1
    assert proxy.stat("core:fwd_requests") == invites_before
    assert rpc(rpc_port, "dlg.profile_get_size", "caller", "1001") == 2
    # another caller is not limited by 1001's calls
    calls_through(proxy, caller="1003")
    # a BYE ends one of 1001's calls: its next call goes through, and after that call's
    # own BYE (relayed by the proxy) the one after it too
    held.end_one()
    assert rpc(rpc_port, "dlg.profile_get_size", "caller", "1001") == 1
    calls_through(proxy)
    calls_through(proxy)
    assert rpc(rpc_port, "dlg.profile_get_size", "caller", "1001") == 1
    assert rpc(rpc_port, "dlg.profile_get_size", "caller") == 1
    assert proxy.stat("dlglimit:caller_refused") == 1
    held.end_one()
    assert rpc(rpc_port, "dlg.profile_get_size", "caller") == 0
    # the ended dialogs still listed show no profiles, as the counts say
    ended = [d for d in rpc(rpc_port, "dlg.list") if d["state"] == 5]
    assert ended and all(d["profiles"] == [] for d in ended)


@pytest.mark.parametrize(
    "limit,status,counter",
    [("max_calls_per_callee", 486, "callee"), ("max_calls", 503, "global")],
)
def test_callee_and_global_limits(limited, tmp_path, limit, status, counter):
    proxy, rpc_port, held = limited(**{limit: 1})
    held.open(caller="1001")
    assert rpc(rpc_port, "dlg.profile_get_size", "callee", "1002") == 1
    assert rpc(rpc_port, "dlg.profile_get_size", "inbound") == 1
    calls_through(proxy, refused_scenario(tmp_path, status), caller="1003")
    assert proxy.stat(f"dlglimit:{counter}_refused") == 1
    held.end_one()
    assert rpc(rpc_port, "dlg.profile_get_size", "callee", "1002") == 0
    calls_through(proxy, caller="1003")
    calls_through(proxy, caller="1003")
    assert proxy.stat(f"dlglimit:{counter}_refused") == 1


def test_no_limit_by_default_toml_keys_and_bad_limits(tmp_path):
    cfg = ProxyConfig()
    assert (cfg.max_calls, cfg.max_calls_per_caller, cfg.max_calls_per_callee) == (0, 0, 0)
    toml = tmp_path / "k.toml"
    toml.write_text(
        "[proxy]\nmax_calls = 100\nmax_calls_per_caller = 2\nmax_calls_per_callee = 1\n"
    )
    pc = proxy_config(load_settings(config_file=toml))
    assert (pc.max_calls, pc.max_calls_per_caller, pc.max_calls_per_callee) == (100, 2, 1)
    assert (
        proxy_config(load_settings(config_file=toml), max_calls_per_caller=5).max_calls_per_caller
        == 5
    )
    for bad in ("max_calls = -1", 'max_calls_per_caller = "2"', "max_calls_per_callee = 1.5"):
        toml.write_text("[proxy]\n" + bad + "\n")
        with pytest.raises(ConfigError, match="max_calls"):
            proxy_config(load_settings(config_file=toml))


def test_serve_flag_limits_the_callee(proxy_db, tmp_path):
    """``kamtool serve --max-calls-per-callee 1``: a second call to 1002 gets 486."""
    need("sipp")
    sip, rpc_port = harness.low_free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kamtool", "--db", proxy_db, "serve", "--listen",
         f"udp:127.0.0.1:{sip}", "--rpc-listen", f"127.0.0.1:{rpc_port}", "--no-pike",
         "--max-calls-per-callee", "1"],
        env=dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path)), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    uas = held = None
    try:
        up = f"http://127.0.0.1:{rpc_port}/RPC"
        assert wait_for(lambda: invoke("--rpc", up, "uptime").exit_code == 0 or proc.poll()), (
            "serve did not start"
        )
        assert proc.poll() is None, proc.stderr.read()
        uas_port = free_port()
        register(sip, "1002", uas_port)
        uas = sipp_uas("uas_answer.xml", uas_port)
        held = harness.sipp_background("uac_wait_bye.xml", sip, free_port(), **caller_args())
        assert wait_for(lambda: [d["state"] for d in rpc(rpc_port, "dlg.list")] == [4])
        res = harness.call(sip, refused_scenario(tmp_path, 486), caller="1003")
        assert res.returncode == 0, explain(res)
        stats = rpc(rpc_port, "stats.get_statistics", "dlglimit:")
        assert "dlglimit:callee_refused = 1" in stats
    finally:
        for p in (held, uas):
            if p is not None:
                p.kill()
                p.communicate(timeout=10)
        proc.terminate()
        proc.wait(timeout=15)
