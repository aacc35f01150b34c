"""The proxy's HEP agent in-process: what one OPTIONS through the proxy puts on the wire
as HEP (addresses, capture id, auth key, payload), the tap only while tracing, the
``siptrace.*`` RPC methods (Kamailio's answers and errors), and the configuration keys."""

from __future__ import annotations

import asyncio
import socket

import pytest

from kamtool.errors import ConfigError
from kamtool.proxy.config import ProxyConfig, proxy_config
from kamtool.proxy.hep import HepAgent, parse_hep_uri
from kamtool.rpc.methods import Registry, RpcFault, siptrace
from kamtool.sip.hep import decode_hep
from tests.proxy.harness import RunningProxy, UdpClient, add_subscriber, make_config


@pytest.fixture
def collector():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3)
    yield sock
    sock.close()


@pytest.fixture
def db(tmp_path):
    url = "sqlite:///" + str(tmp_path / "kamailio.sqlite")
    add_subscriber(url, "1001", "secret1001")
    return url


def options(client: UdpClient) -> bytes:
    return (
        f"OPTIONS sip:127.0.0.1:{client.proxy[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{client.port};branch=z9hG4bK-hep-1\r\n"
        "From: <sip:1001@127.0.0.1>;tag=a1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: hep-agent-1\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_a_request_and_its_reply_are_mirrored_with_siptrace_semantics(db, collector):
    dest = collector.getsockname()
    proxy = RunningProxy(make_config(db, hep=f"udp:127.0.0.1:{dest[1]}", hep_capture_id=99,
                                     hep_auth_key="k")).start()  # fmt: skip
    client = UdpClient(proxy.port)
    try:
        request = options(client)
        client.send_raw(request)
        reply = client.recv()
        received, sent = decode_hep(collector.recv(65535)), decode_hep(collector.recv(65535))
    finally:
        client.close()
        proxy.stop()
    assert reply.status == 200
    # received: from the client to our socket; sent: from our socket to the client
    assert (received.src_ip, received.src_port) == ("127.0.0.1", client.port)
    assert (received.dst_ip, received.dst_port) == ("127.0.0.1", proxy.port)
    assert received.payload == request
    assert (sent.src_port, sent.dst_port) == (proxy.port, client.port)
    assert sent.payload.startswith(b"SIP/2.0 200 ") and b"hep-agent-1" in sent.payload
    for pkt in (received, sent):
        assert (pkt.capture_id, pkt.auth_key, pkt.ip_proto, pkt.proto_type) == (99, b"k", 17, 1)
        assert pkt.ts_sec > 1_600_000_000


class FakeTransports:
    tap = None


def test_the_tap_is_installed_only_while_tracing_with_a_destination():
    transports = FakeTransports()
    agent = HepAgent(None, trace_on=True)
    agent.attach(transports)
    assert transports.tap is None  # on, but nowhere to send
    agent.add("udp:127.0.0.1:9999")
    assert transports.tap is not None
    agent.set_on(False)
    assert transports.tap is None
    agent.set_on(True)
    assert agent.remove("udp:127.0.0.1:9999") and transports.tap is None
    assert not agent.remove("udp:127.0.0.1:9999")
    agent.close()


def test_what_is_not_sip_is_not_mirrored(collector):
    from kamtool.proxy.overload import PROBE_MAGIC

    agent = HepAgent(f"udp:127.0.0.1:{collector.getsockname()[1]}")
    for data in (b"\r\n\r\n", PROBE_MAGIC + b"12345678", b"\x00\x01\x00\x00stun", b""):
        agent.tap(data, "udp", ("127.0.0.1", 1), ("127.0.0.1", 2))
    agent.tap(b"OPTIONS sip:x SIP/2.0\r\n\r\n", "udp", ("127.0.0.1", 1), ("127.0.0.1", 2))
    assert decode_hep(collector.recv(65535)).payload.startswith(b"OPTIONS ")
    assert agent.sent == 1
    agent.close()


def test_an_unreachable_collector_costs_the_copy_not_the_call(collector):
    agent = HepAgent("udp:127.0.0.1:1")  # nothing listens: ICMP, then errors on send
    agent.tap(b"X" * 70000, "udp", ("127.0.0.1", 1), ("127.0.0.1", 2))  # too big for HEP
    for _ in range(3):
        agent.tap(b"OPTIONS", "tcp", ("127.0.0.1", 1), ("127.0.0.1", 2))
    assert agent.errors >= 1 and agent.sent + agent.errors == 4
    agent.close()


def call(registry: Registry, *params):
    return asyncio.run(registry.call(params[0], list(params[1:])))


def test_siptrace_rpc_answers_as_kamailio():
    agent = HepAgent("udp:127.0.0.1:9060", trace_on=False)
    registry = Registry()
    siptrace.register(registry, agent)
    assert call(registry, "siptrace.status", "check") == "Disabled"
    assert call(registry, "siptrace.status", "on") == "Enabled" and agent.trace_on
    assert call(registry, "siptrace.status", "CHECK") == "Enabled"
    assert call(registry, "siptrace.status", "Off") == "Disabled" and not agent.trace_on
    for params, message in (((), "Not enough parameters (on, off or check)"),
                            (("maybe",), "Bad parameter (on, off or check)")):  # fmt: skip
        with pytest.raises(RpcFault) as err:
            call(registry, "siptrace.status", *params)
        assert (err.value.code, err.value.message) == (500, message)
    added = call(registry, "siptrace.dest_add", "udp:127.0.0.1:9061")
    assert added == {"destinations": ["udp:127.0.0.1:9060", "udp:127.0.0.1:9061"]}
    with pytest.raises(RpcFault, match="Bad destination"):
        call(registry, "siptrace.dest_add", "tcp:127.0.0.1:9061")
    assert call(registry, "siptrace.dest_rm", "udp:127.0.0.1:9061") == {
        "destinations": ["udp:127.0.0.1:9060"]}  # fmt: skip
    with pytest.raises(RpcFault) as err:  # the configured one is not removed over RPC
        call(registry, "siptrace.dest_rm", "udp:127.0.0.1:9060")
    assert err.value.code == 404
    agent.close()


@pytest.mark.parametrize("uri", ["udp:127.0.0.1:9060", "sip:127.0.0.1:9060", "127.0.0.1:9060"])
def test_hep_destinations_in_kamailios_forms(uri):
    assert parse_hep_uri(uri) == ("127.0.0.1", 9060)


@pytest.mark.parametrize("value", ["tcp:127.0.0.1:9060", "udp:homer:9060", "udp:1.2.3.4:0"])
def test_bad_hep_settings_are_config_errors(value):
    with pytest.raises(ConfigError):
        ProxyConfig(hep=value)


def test_hep_keys_of_the_proxy_section(tmp_path):
    from kamtool.config import load_settings

    cfg = tmp_path / "kamtool.toml"
    cfg.write_text('[proxy]\nhep = "udp:[::1]:9060"\nhep_capture_id = 7\nhep_auth_key = "sekr1t"\n'
                   "hep_trace_on = false\n")  # fmt: skip
    config = proxy_config(load_settings(config_file=cfg))
    assert (config.hep, config.hep_capture_id, config.hep_auth_key, config.hep_trace_on) == (
        "udp:[::1]:9060", 7, "sekr1t", False)  # fmt: skip
    assert "sekr1t" not in repr(config)  # a secret: never printed
    cfg.write_text('[proxy]\nhep_capture_id = "7"\n')
    with pytest.raises(ConfigError):
        proxy_config(load_settings(config_file=cfg))
