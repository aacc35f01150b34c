"""Overload protection (kamtool.proxy.overload) on real sockets with SIPp.

A bounded SIPp REGISTER flood on loopback, and the proxy's loop held busy for 2 s in
the middle of it (a stand-in for "more work than one process can do" that does not depend
on how fast this machine is): new requests get a stateless 503 with Retry-After while the
queue is old, the episode is counted and logged once, the proxy keeps running, and normal
service (a digest REGISTER) resumes afterwards. Nothing here asserts timing.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time

import pytest

from kamtool.config import load_settings
from kamtool.errors import ConfigError
from kamtool.proxy.config import ProxyConfig, proxy_config
from tests.proxy.conftest import need
from tests.proxy.harness import register, sipp_args, wait_for
from tests.support.ports import free_port

FLOOD_RATE = 1000  # calls/s for FLOOD_SECONDS: bounded, a few thousand REGISTERs
FLOOD_SECONDS = 5  # the stall is at 1-3 s: the flood goes on after it


def flood_with_stall(proxy) -> subprocess.CompletedProcess[str]:
    """SIPp REGISTERs at FLOOD_RATE; after 1 s the proxy's loop is stalled for 2 s: what
    queues meanwhile, retransmissions included (a few thousand datagrams), takes a few
    hundred ms to work through, so the probes sent after the stall are older than the
    tests' overload_max_age of 50 ms."""
    args = sipp_args("register_flood.xml", proxy.port, free_port(), timeout=FLOOD_SECONDS + 15)
    args[args.index("-m") + 1] = str(FLOOD_RATE * FLOOD_SECONDS)
    args += ["-r", str(FLOOD_RATE), "-l", str(FLOOD_RATE * 4)]
    sipp = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.0)
    proxy.loop.call_soon_threadsafe(time.sleep, 2.0)  # the loop can do nothing else
    out, _ = sipp.communicate(timeout=FLOOD_SECONDS + 40)
    return subprocess.CompletedProcess(args, sipp.returncode, out)


def test_overload_answers_503_then_recovers(start_proxy, caplog):
    need("sipp")
    proxy = start_proxy(pike=False, overload=True, overload_max_age=0.05, overload_retry_after=7)
    with caplog.at_level(logging.WARNING, logger="kamtool.proxy.overload"):
        flood_with_stall(proxy)
        # the episode ends once the queue is young again
        assert wait_for(lambda: proxy.stat("overload:active") == 0, timeout=30)
    rejected = proxy.stat("overload:rejected_requests")
    episodes = proxy.stat("overload:episodes")
    assert rejected > 0 and episodes >= 1
    assert proxy.stat("sl:5xx_replies") >= rejected  # the 503s are sl replies
    assert proxy.stat("sl:401_replies") > 0  # and the rest was served as usual
    starts = [r for r in caplog.records if "overload:" in r.getMessage()]
    ends = [r for r in caplog.records if "overload over" in r.getMessage()]
    assert len(starts) == episodes and len(ends) == episodes  # once per episode, each way
    # normal service again: a full digest registration (401, then 200) succeeds
    register(proxy.port, "1001")
    assert proxy.stat("overload:rejected_requests") == rejected


def _send(port: int, text: str, wait: float = 2.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(wait)
        lport = s.getsockname()[1]
        s.sendto(text.replace("LPORT", str(lport)).encode(), ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except TimeoutError:
            return None


def _request(method: str, port: int, n: int, to_tag: str = "", ruri: str = "") -> str:
    ruri = ruri or f"sip:1002@127.0.0.1:{port}"
    tag = f";tag={to_tag}" if to_tag else ""
    return (
        f"{method} {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:LPORT;branch=z9hG4bKovl{n}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:1001@127.0.0.1>;tag=ovl{n}\r\n"
        f"To: <sip:1002@127.0.0.1>{tag}\r\n"
        f"Call-ID: ovl-{n}@test\r\n"
        f"CSeq: 1 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )


def test_only_new_initial_requests_are_rejected(start_proxy):
    """While overloaded: a new request gets 503 + Retry-After; a CANCEL, an in-dialog
    request and an OPTIONS keepalive are handled as always; an ACK gets nothing."""
    proxy = start_proxy(overload=True)
    proxy.call(lambda: setattr(proxy.server.parts.overload, "overloaded", True))
    port = proxy.port
    reply = _send(port, _request("MESSAGE", port, 1))
    assert reply is not None and reply.startswith(b"SIP/2.0 503 Service Unavailable\r\n")
    assert b"\r\nRetry-After: 5\r\n" in reply
    reply = _send(port, _request("BYE", port, 2, to_tag="abc"))
    assert reply is not None and reply.startswith(b"SIP/2.0 404 Not here")
    reply = _send(port, _request("CANCEL", port, 3))
    assert reply is not None and reply.startswith(b"SIP/2.0 481")
    keepalive = _request("OPTIONS", port, 4, ruri=f"sip:127.0.0.1:{port}")
    reply = _send(port, keepalive)
    assert reply is not None and reply.startswith(b"SIP/2.0 200 Keepalive")
    assert _send(port, _request("ACK", port, 5), wait=0.5) is None
    assert proxy.stat("overload:rejected_requests") == 1
    proxy.call(lambda: setattr(proxy.server.parts.overload, "overloaded", False))
    reply = _send(port, _request("MESSAGE", port, 6))
    assert reply is not None and not reply.startswith(b"SIP/2.0 503")


def test_overload_off_switch(start_proxy):
    """overload = false: no guard, no probes, the same stall gets no 503 at all."""
    need("sipp")
    proxy = start_proxy(pike=False, overload=False)
    assert proxy.server.parts.overload is None
    flood_with_stall(proxy)
    assert wait_for(lambda: proxy.stat("sl:401_replies") > 0)
    assert proxy.stat("sl:5xx_replies") == 0


def test_overload_settings_toml_defaults_and_checks(tmp_path):
    cfg = tmp_path / "k.toml"
    cfg.write_text("[proxy]\noverload = false\noverload_max_age = 1.5\noverload_retry_after = 30\n")
    pc = proxy_config(load_settings(config_file=cfg))
    assert (pc.overload, pc.overload_max_age, pc.overload_retry_after) == (False, 1.5, 30)
    defaults = ProxyConfig()
    assert (defaults.overload, defaults.overload_max_age, defaults.overload_retry_after) == (
        False,
        0.5,
        5,
    )
    with pytest.raises(ConfigError, match="overload_max_age"):
        ProxyConfig(overload_max_age=0)
    cfg.write_text('[proxy]\noverload_max_age = "soon"\n')
    with pytest.raises(ConfigError, match="overload_max_age"):
        proxy_config(load_settings(config_file=cfg))
