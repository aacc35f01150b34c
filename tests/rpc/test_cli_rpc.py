"""``kamtool rpc``: kamcmd's argument rules, --raw, --list, --help METHOD, exit statuses."""

from __future__ import annotations

import json

import pytest

from tests.rpc.fakes import FakeHttp, replay, result
from tests.support.cli import invoke
from tests.support.ports import free_port
from tests.support.reference import capture


@pytest.fixture
def server():
    with FakeHttp(replay()) as srv:
        yield srv


def rpc(server, *args):
    return invoke("--rpc", server.url, "rpc", *args)


def test_result_is_pretty_json(server):
    r = rpc(server, "core.uptime")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == result("core.uptime")
    assert r.stdout.startswith("{\n  ")


def test_numbers_go_as_numbers_unless_s_prefix(server):
    rpc(server, "ul.lookup", "location", "1001")
    rpc(server, "ul.lookup", "location", "s:1001")
    rpc(server, "cfg.seti", "core", "debug", "-1")  # a negative number is not an option
    rpc(server, "core.echo", "i:7", "1.5")
    params = [req.get("params") for _, req in server.requests]
    assert params == [
        ["location", 1001],
        ["location", "1001"],
        ["core", "debug", -1],
        [7, 1.5],
    ]


def test_params_json(server):
    r = rpc(server, "core.echo", "--params-json", '["a", 1, {"x": 2}]')
    assert r.exit_code == 0
    assert server.requests[-1][1]["params"] == ["a", 1, {"x": 2}]
    assert rpc(server, "core.echo", "x", "--params-json", "[1]").exit_code == 2
    assert rpc(server, "core.echo", "--params-json", "[1,").exit_code == 2


def test_raw_prints_the_reply_as_received(server):
    r = rpc(server, "--raw", "core.uptime")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["result"] == result("core.uptime") and doc["jsonrpc"] == "2.0"


def test_error_reply_exits_7_with_the_code(server):
    r = invoke("--json", "--rpc", server.url, "rpc", "no.such_method")
    assert r.exit_code == 7
    err = r.json()["error"]
    assert err["details"]["rpc_code"] == 500
    assert err["details"]["rpc_message"] == "Method Not Found"
    raw = rpc(server, "--raw", "no.such_method")
    assert raw.exit_code == 7
    assert json.loads(raw.stdout)["error"]["code"] == 500


def test_list_methods(server):
    r = rpc(server, "--list")
    assert r.exit_code == 0
    assert r.stdout.split() == capture("system.listMethods")["response"]["result"]


@pytest.mark.parametrize("flag", ["--help", "--method-help"])
def test_help_method_asks_the_server(server, flag):
    r = rpc(server, flag, "core.psx")
    assert r.exit_code == 0
    assert r.stdout.strip() == result("system.methodHelp")
    assert server.requests[-1][1] == {
        "jsonrpc": "2.0", "method": "system.methodHelp", "params": ["core.psx"],
        "id": server.requests[-1][1]["id"],
    }  # fmt: skip


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_alone_is_the_usage(server, flag):
    r = rpc(server, flag)
    assert r.exit_code == 0
    assert "Usage: kamtool rpc" in r.stdout and "--params-json" in r.stdout
    assert server.requests == []


def test_dead_endpoint_exits_6_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}/RPC"
    r = invoke("--json", "--rpc", url, "rpc", "core.version")
    assert r.exit_code == 6
    assert url in r.json()["error"]["message"]


def test_env_variable_selects_the_endpoint(server):
    r = invoke("rpc", "core.version", env={"KAMTOOL_RPC_URL": server.url})
    assert r.exit_code == 0 and json.loads(r.stdout).startswith("kamailio 5.6")


def test_method_missing_is_usage_error(server):
    assert rpc(server).exit_code == 2


def test_number_where_kamailio_wants_text_gets_a_hint():
    with FakeHttp(replay({"ul.lookup": "error.bad_param_type.ul.lookup_int"})) as srv:
        r = invoke("--json", "--rpc", srv.url, "rpc", "ul.lookup", "location", "1001")
    assert r.exit_code == 7
    assert "s:1001" in r.json()["error"]["hint"]


def test_token_and_url_from_the_config_file(server, tmp_path):
    cfg = tmp_path / "kamtool.toml"
    cfg.write_text(f'[rpc]\nurl = "{server.url}"\ntoken = "from-config"\ntimeout = 2.5\n')
    r = invoke("--config", str(cfg), "rpc", "core.version")
    assert r.exit_code == 0, r.stderr
    assert server.requests[-1][0]["Authorization"] == "Bearer from-config"
    r = invoke("--config", str(cfg), "rpc", "core.version", env={"KAMTOOL_RPC_TOKEN": "env"})
    assert server.requests[-1][0]["Authorization"] == "Bearer env"
