"""Requests, replies and kamcmd's argument rules, on the reference captures."""

from __future__ import annotations

import pytest

from kamtool.errors import BadInput, RpcError, RpcUnavailable
from kamtool.rpc import protocol
from tests.rpc.fakes import names
from tests.support.reference import capture


@pytest.mark.parametrize(
    ("arg", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("1.5", 1.5),
        ("s:1001", "1001"),
        ("s:", ""),
        ("i:12", 12),
        ("i:0x10", 16),
        ("location", "location"),
        ("sip:1001@127.0.0.1", "sip:1001@127.0.0.1"),
        ("nan", "nan"),  # kamcmd's strtod would send NaN; a word stays a word here
        ("1e3", 1000.0),
        ("", ""),
    ],
)
def test_kamcmd_argument_rules(arg, value):
    got = protocol.parse_cli_param(arg)
    assert got == value and type(got) is type(value)


def test_bad_forced_int():
    with pytest.raises(BadInput, match="i:"):
        protocol.parse_cli_param("i:abc")


def test_params_json():
    assert protocol.parse_params_json('["a", 1, {"x": 2}]') == ["a", 1, {"x": 2}]
    assert protocol.parse_params_json('{"table": "location"}') == {"table": "location"}
    assert protocol.parse_params_json("3") == [3]
    with pytest.raises(BadInput, match="not valid JSON"):
        protocol.parse_params_json("[1,")


def test_request_shape_matches_the_captures():
    """Params are omitted when there are none, as in the captured requests."""
    assert protocol.make_request("core.version", [], 1) == capture("core.version")["request"]
    assert protocol.make_request("ul.dump", ["brief"], 1) == capture("ul.dump.brief")["request"]


# Every captured reply over every transport decodes; errors carry Kamailio's code.
# (Replies that are not JSON, the wrong-path page and "no reply", are tested below.)
@pytest.mark.parametrize("name", [n for n in names() if isinstance(capture(n)["response"], dict)])
def test_every_captured_reply_decodes(name):
    cap = capture(name)
    reply = protocol.decode(cap["response_raw"].encode(), url="test:")
    assert reply.document == cap["response"]
    if "error" in cap["response"]:
        with pytest.raises(RpcError) as err:
            protocol.check(reply, "m", url="test:")
        assert err.value.rpc_code == cap["response"]["error"]["code"]
        assert err.value.details["rpc_message"] == cap["response"]["error"]["message"]
    else:
        assert protocol.check(reply, "m", url="test:") == cap["response"]["result"]


def test_wrong_path_page_and_cut_reply_are_unavailable():
    page = capture("error.wrong_path")["response_raw"].encode()
    with pytest.raises(RpcUnavailable, match="did not answer with JSON-RPC"):
        protocol.decode(page, url="http://x/foo")
    cut = capture("ul.dump")["response_raw"].encode()[:500]
    with pytest.raises(RpcUnavailable) as err:
        protocol.decode(cut, url="http://x/RPC")
    assert "cut short" in err.value.hint
