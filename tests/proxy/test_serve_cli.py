"""`kamtool serve` refuses bad settings with a clear message and exit status."""

from __future__ import annotations

import socket

import pytest

from tests.support.cli import invoke


def test_bad_listen_address_is_a_config_error(tmp_path):
    res = invoke("--db", f"sqlite:///{tmp_path}/k.sqlite", "serve", "--listen", "udp:nohost:5060")
    assert res.exit_code == 8
    assert "not an IP address" in res.stderr


def test_port_in_use_is_reported_without_a_traceback(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        res = invoke(
            "--db", f"sqlite:///{tmp_path}/k.sqlite", "serve",
            "--listen", f"udp:127.0.0.1:{port}", "--rpc-listen", "",
        )  # fmt: skip
    assert res.exit_code == 8
    assert f"cannot listen on udp:127.0.0.1:{port}" in res.stderr
    assert "Traceback" not in res.stderr


def test_rpc_listen_takes_the_listen_and_the_url_forms():
    """--rpc-listen took only HOST:PORT and refused --listen's form (http:IP:PORT) and
    the URL clients are given ("not an IP address")."""
    from kamtool.errors import ConfigError
    from kamtool.proxy.config import parse_host_port

    for spec in ("127.0.0.1:5081", "http:127.0.0.1:5081", "http://127.0.0.1:5081/RPC"):
        assert parse_host_port(spec) == ("127.0.0.1", 5081), spec
    assert parse_host_port("HTTP://[::1]:5081") == ("::1", 5081)
    with pytest.raises(ConfigError, match="not an IP address"):
        parse_host_port("http:nohost:5081")
