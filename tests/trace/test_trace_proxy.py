"""kamtool's proxy as a HEP agent: ``kamtool serve`` with ``[proxy] hep`` set sends every
message it receives and sends to sngrep (an independent HEP decoder listening with -L)
while ``kamtool trace`` gets the same feed through ``siptrace.dest_add``; both are
compared with a tshark capture of the loopback traffic during SIPp calls."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.proxy.harness import call, explain, register, sipp_peer
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port
from tests.trace.support import LoopbackCapture, Trace, key, need, sip_packets

pytestmark = [pytest.mark.sipp, pytest.mark.slow]


def ports_free_key(row: dict, transport: str) -> tuple:
    """:func:`key` without ports over TCP (our outgoing connections leave from another
    port than the listener that siptrace names as their source, as Kamailio's)."""
    k = key(row)
    if transport == "t1":
        return (k[0].rsplit(":", 1)[0], k[1].rsplit(":", 1)[0], *k[2:])
    return k


class Sngrep:
    """``sngrep -N -q -L udp:127.0.0.1:PORT -O FILE``: HEP in, pcap out."""

    def __init__(self, port: int, out) -> None:
        need("sngrep")
        self.out = out
        self.proc = subprocess.Popen(
            ["sngrep", "-N", "-q", "-L", f"udp:127.0.0.1:{port}", "-O", str(out)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        # sngrep prints nothing when ready: wait until its socket is bound
        while time.monotonic() < deadline:
            res = subprocess.run(["ss", "-Hlun", f"sport = :{port}"], capture_output=True,
                                 text=True)  # fmt: skip
            if str(port) in res.stdout:
                return
            time.sleep(0.1)
        self.proc.kill()
        raise AssertionError(f"sngrep did not listen: {self.proc.communicate()}")

    def stop(self):
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)
        return self.out


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_proxy_hep_feed_decodes_in_sngrep_and_kamtool_trace(tmp_path, transport):
    need("sipp")
    hep_port, trace_port, uas = free_port(), free_port(), free_port()
    proxy = KamtoolProxy(tmp_path)
    proxy.proxy_toml = (f'hep = "udp:127.0.0.1:{hep_port}"\nhep_capture_id = 77\n'
                        'hep_auth_key = "k3y"\n')  # fmt: skip
    with proxy:
        sngrep = Sngrep(hep_port, tmp_path / "sngrep.pcap")
        bpf = f"(port {proxy.sip_port} or port {uas}) and not port {hep_port}"
        capture = LoopbackCapture(tmp_path / "lo.pcap", f"{bpf} and not port {trace_port}")
        trace = Trace(tmp_path / "home", "--listen", f"udp:127.0.0.1:{trace_port}",
                      "--auth-key", "k3y", "--pcap", str(tmp_path / "trace.pcap"),
                      rpc=proxy.rpc_http_url)  # fmt: skip
        assert proxy.rpc("siptrace.status", "check") == "Enabled"  # hep_trace_on
        register(proxy.sip_port, "1002", uas, transport=transport)
        with sipp_peer("uas_answer.xml", proxy.sip_port, uas, transport=transport):
            res = call(proxy.sip_port, "uac_call.xml", transport=transport)
            assert res.returncode == 0, explain(res)
        wire = sip_packets(capture.stop(), ports=(proxy.sip_port, uas))
        shown = trace.stop()
        decoded = sip_packets(sngrep.stop(), ports=(proxy.sip_port, uas))
        # trace's destination is gone; the configured one stays, and tracing stays on
        with pytest.raises(RuntimeError, match="Destination not found"):
            proxy.rpc("siptrace.dest_rm", f"udp:127.0.0.1:{trace_port}")
        assert proxy.rpc("siptrace.status", "check") == "Enabled"

    want = sorted(ports_free_key(r, transport) for r in wire)
    assert len(want) >= 11  # REGISTER 401 REGISTER 200, and the call's 7 + 4 relayed
    assert sorted(ports_free_key(m, transport) for m in shown) == want
    assert sorted(ports_free_key(r, transport) for r in decoded) == want
    assert {m["capture_id"] for m in shown} == {77}
    local = f"127.0.0.1:{proxy.sip_port}"  # direction: from the proxy's core.sockets_list
    assert [m["direction"] for m in shown] == [
        "in" if m["dst"] == local else "out" for m in shown]  # fmt: skip
    written = sip_packets(tmp_path / "trace.pcap", ports=(proxy.sip_port, uas))
    assert sorted(ports_free_key(r, transport) for r in written) == want


def test_siptrace_status_off_stops_the_feed(tmp_path):
    hep_port, trace_port = free_port(), free_port()
    proxy = KamtoolProxy(tmp_path)
    proxy.proxy_toml = f'hep = "udp:127.0.0.1:{hep_port}"\nhep_trace_on = false\n'
    with proxy:
        assert proxy.rpc("siptrace.status", "check") == "Disabled"
        trace = Trace(tmp_path / "home", "--listen", f"udp:127.0.0.1:{trace_port}",
                      rpc=proxy.rpc_http_url)  # fmt: skip
        assert proxy.rpc("siptrace.status", "check") == "Enabled"
        register(proxy.sip_port, "1001", free_port())
        shown = trace.stop()
        assert proxy.rpc("siptrace.status", "check") == "Disabled"  # back as it was
        # off: nothing reaches a listener any more
        quiet = Trace(tmp_path / "home", "--listen", f"udp:127.0.0.1:{hep_port}", "--no-rpc",
                      "--for", "2")  # fmt: skip
        register(proxy.sip_port, "1001", free_port())
        assert quiet.messages() == []
    assert [m["first_line"].split(" ")[0] for m in shown if m["status"] is None] == [
        "REGISTER", "REGISTER"]  # fmt: skip
    assert sorted(m["status"] for m in shown if m["status"]) == [200, 401]
