"""ProxyConfig merging/validation and the single timer heap."""

from __future__ import annotations

import asyncio

import pytest

from kamtool.config import load_settings
from kamtool.errors import ConfigError
from kamtool.proxy.config import Listen, ProxyConfig, proxy_config
from kamtool.proxy.timers import TimerHeap


def test_listen_parsing():
    assert Listen.parse("udp:127.0.0.1:5060") == Listen("udp", "127.0.0.1", 5060)
    assert Listen.parse("tcp:[::1]:5070") == Listen("tcp", "::1", 5070)
    assert Listen.parse("127.0.0.1") == Listen("udp", "127.0.0.1", 5060)
    assert Listen.parse("tcp:[::1]:5070").socket_str == "tcp:[::1]:5070"
    assert Listen.parse("tls:127.0.0.1") == Listen("tls", "127.0.0.1", 5061)
    assert Listen.parse("TLS:127.0.0.1:5071").socket_str == "tls:127.0.0.1:5071"
    for bad in ("udp:nohost:5060", "udp:127.0.0.1:99999", "sctp:127.0.0.1"):
        with pytest.raises(ConfigError):
            Listen.parse(bad)


def test_toml_section_then_flags(tmp_path):
    cfg = tmp_path / "k.toml"
    cfg.write_text(
        '[db]\nurl = "sqlite:////tmp/x.sqlite"\n'
        '[proxy]\nlisten = ["udp:127.0.0.1:6000"]\ndb_mode = 1\nfr_timer = 2\nauth = false\n'
    )
    settings = load_settings(config_file=cfg)
    pc = proxy_config(settings)
    assert pc.listen == (Listen("udp", "127.0.0.1", 6000),)
    assert (pc.db_mode, pc.fr_timer, pc.auth, pc.db_url) == (
        1,
        2.0,
        False,
        "sqlite:////tmp/x.sqlite",
    )
    pc = proxy_config(
        settings, listen=["tcp:127.0.0.1:7000"], db_url="sqlite:////tmp/y", domain="d.org"
    )
    assert pc.listen == (Listen("tcp", "127.0.0.1", 7000),)
    assert pc.db_url == "sqlite:////tmp/y"
    assert "d.org" in pc.local_names and "127.0.0.1" in pc.local_names


@pytest.mark.parametrize(
    "section",
    [
        "db_mode = 7",
        'fr_timer = "x"',
        "nonsense = 1",
        'listen = ["udp:x:1"]',
        "nat_uac_test = 8",
        "natping_interval = -1",
        'nat = "yes"',
        'listen = ["tls:127.0.0.1:5061"]',
    ],
)
def test_bad_proxy_section_is_a_config_error(tmp_path, section):
    cfg = tmp_path / "k.toml"
    cfg.write_text("[proxy]\n" + section + "\n")
    with pytest.raises(ConfigError):
        proxy_config(load_settings(config_file=cfg))


def test_nat_and_tls_settings_from_toml(tmp_path):
    cfg = tmp_path / "k.toml"
    cfg.write_text(
        '[proxy]\nlisten = ["udp:127.0.0.1:6000", "tls:127.0.0.1:6001"]\nnat = false\n'
        'nat_uac_test = 129\nnatping_interval = 0\ntls_certificate = "/c.pem"\n'
        'tls_private_key = "/k.pem"\ntls_ca_list = "/ca.pem"\ntls_require_certificate = true\n'
    )
    pc = proxy_config(load_settings(config_file=cfg))
    assert (pc.nat, pc.nat_uac_test, pc.natping_interval) == (False, 129, 0)
    assert (pc.tls_certificate, pc.tls_private_key, pc.tls_ca_list) == (
        "/c.pem",
        "/k.pem",
        "/ca.pem",
    )
    assert pc.tls_require_certificate and not pc.tls_verify_certificate
    assert pc.listen[1] == Listen("tls", "127.0.0.1", 6001)
    assert ProxyConfig().nat and ProxyConfig().nat_uac_test == 3  # on: private Contact or Via


def test_config_validation():
    with pytest.raises(ConfigError):
        ProxyConfig(listen=())
    with pytest.raises(ConfigError):
        ProxyConfig(min_expires=100, max_expires=50)


def test_timer_heap_order_cancel_and_rearm():
    async def main():
        loop = asyncio.get_running_loop()
        heap = TimerHeap(loop)
        fired: list[str] = []
        done = loop.create_future()
        heap.call_later(0.03, fired.append, "c")
        t = heap.call_later(0.01, fired.append, "cancelled")
        heap.call_later(0.02, fired.append, "b")
        heap.call_later(0.005, fired.append, "a")
        heap.call_later(0.04, done.set_result, None)
        t.cancel()

        def boom():
            raise RuntimeError("must not stop the heap")

        heap.call_later(0.015, boom)
        await asyncio.wait_for(done, 2)
        assert fired == ["a", "b", "c"]
        assert len(heap) == 0
        heap.call_later(10, fired.append, "never")
        heap.close()
        assert len(heap) == 0

    asyncio.run(main())
