"""The sans-IO part of RTPEngine control: datagrams, flags, manage decisions, node choice."""

from __future__ import annotations

import pytest

from kamtool.sip.bencode import decode
from kamtool.sip.ng import (
    NgError,
    NgSet,
    build_params,
    manage_action,
    parse_flags,
    parse_nodes,
    parse_reply,
    request_bytes,
    retransmit_schedule,
)
from tests.edge.sdp import invite, reply, request


def test_request_and_reply_datagrams():
    data = request_bytes("c1_7", {"command": "ping"})
    assert data == b"c1_7 d7:command4:pinge"
    assert parse_reply(b"c1_7 d6:result4:ponge") == ("c1_7", {"result": "pong"})
    with pytest.raises(NgError):
        request_bytes("two words", {"command": "ping"})
    with pytest.raises(NgError):
        request_bytes("c", {"call-id": "x"})
    for bad in (b"nocookie", b"c i1e", b"c d3:sdp1:xe", b"c d6:result"):
        with pytest.raises(NgError):
            parse_reply(bad)


def test_flags_as_kamailio_passes_them():
    got = parse_flags(
        "replace-origin replace-session-connection ICE=remove RTP/SAVPF DTLS=passive "
        "rtcp-mux-demux direction=internal direction=external trust-address "
        "codec-strip-PCMA label=caller"
    )
    assert got == {
        "replace": ["origin", "session-connection"],
        "ICE": "remove",
        "transport-protocol": "RTP/SAVPF",
        "DTLS": "passive",
        "rtcp-mux": ["demux"],
        "direction": ["internal", "external"],
        "flags": ["trust-address"],
        "codec": {"strip": ["PCMA"]},
        "label": "caller",
    }
    for bad in ("ICE=", "=x", "replace-", "codec-eat-PCMA", "codec-strip-"):
        with pytest.raises(NgError):
            parse_flags(bad)


def test_build_params_from_messages():
    inv = invite("call-a")
    p = build_params("offer", inv, "ICE=force from-tag=override via-branch=auto", "::1")
    assert p["call-id"] == "call-a" and p["from-tag"] == "override"
    assert p["via-branch"] == "z9hG4bK-inv1" and p["ICE"] == "force"
    assert b"m=audio 49170" in p["sdp"] and "to-tag" not in p
    assert p["received-from"] == ["IP6", "::1"] and p["supports"] == ["load limit"]
    a = build_params("answer", reply("call-a"), "via-branch=1")
    assert (a["from-tag"], a["to-tag"]) == ("alicetag", "bobtag")
    assert a["via-branch"] == "z9hG4bK-inv1" and "received-from" not in a
    assert "via-branch" not in build_params("answer", reply("call-a"), "via-branch=2")
    # a delete ends the whole call unless the to-tag flag asks for one dialog
    d = build_params("delete", request("BYE", "call-a"))
    assert "sdp" not in d and "to-tag" not in d and "via-branch" not in d
    d = build_params("delete", request("BYE", "call-a"), "to-tag")
    assert d["to-tag"] == "bobtag" and "flags" not in d
    with pytest.raises(NgError, match="via-branch"):
        build_params("delete", request("BYE", "call-a"), "via-branch=3")
    with pytest.raises(NgError, match="SDP"):
        build_params("offer", invite("call-b", sdp=False))
    # the whole request encodes
    assert decode(request_bytes("k", a).split(b" ", 1)[1])[b"command"] == b"answer"


@pytest.mark.parametrize(
    ("msg", "had_sdp", "action"),
    [
        (invite("x"), True, "offer"),
        (invite("x", sdp=False), True, None),
        (reply("x", 183), True, "answer"),
        (reply("x", 200), False, "offer"),  # late offer: the 200 carries the offer
        (reply("x", 200, sdp=False), True, None),
        (reply("x", 486, sdp=False), True, "delete"),
        (reply("x", 100, sdp=False), True, None),
        (reply("x", 200, method="UPDATE"), True, "answer"),
        (reply("x", 491, method="UPDATE", sdp=False), True, None),
        (reply("x", 200, method="OPTIONS"), True, None),
        (request("BYE", "x"), True, "delete"),
        (request("CANCEL", "x"), True, "delete"),
        (request("OPTIONS", "x"), True, None),
        (request("ACK", "x"), True, None),
    ],
)
def test_manage_decisions(msg, had_sdp, action):
    assert manage_action(msg, had_sdp) == action


def test_node_list_syntax():
    nodes = parse_nodes("udp:127.0.0.1:2222=3 udp:[::1]:2223")
    assert [(n.host, n.port, n.weight) for n in nodes] == [("127.0.0.1", 2222, 3), ("::1", 2223, 1)]
    for bad in (
        "",
        "tcp:1.2.3.4:5",
        "udp:1.2.3.4",
        "udp:1.2.3.4:0",
        "udp:h:1=0",
        "udp:h:1=x",
        "udp:h:1 udp:h:1",
    ):
        with pytest.raises(NgError):
            parse_nodes(bad)


def test_weights_spread_calls_and_failover_is_sticky():
    s = NgSet.from_spec("udp:127.0.0.1:1=3 udp:127.0.0.1:2=1", disable_for=60)
    first = [s.candidates(f"call-{i}", 0.0)[0].port for i in range(2000)]
    share = first.count(1) / len(first)
    assert 0.68 < share < 0.82  # 3:1 weights
    calls = [f"call-{i}" for i in range(200)]
    before = {c: s.candidates(c, 0.0)[0].port for c in calls}
    a, b = s.nodes
    s.failed(a, now=10.0)
    during = {c: s.candidates(c, 20.0) for c in calls}
    assert all([n.port for n in during[c]] == [2] for c in calls)
    # after disable_for, node 1 is back and every call returns to where it was
    assert {c: s.candidates(c, 71.0)[0].port for c in calls} == before
    s.enable(a.url, False)
    assert all(n.port == 2 for c in calls for n in s.candidates(c, 1e9))
    assert a.as_dict(0.0)["disabled"] == 1
    s.enable(a.url, True)
    assert s.candidates("call-0", 0.0)[0].port == before["call-0"]
    s.failed(a, 0.0)
    s.failed(b, 0.0)
    assert s.candidates("call-0", 1.0) == []
    with pytest.raises(NgError):
        s.enable("udp:127.0.0.1:9", True)


def test_retransmit_schedule():
    assert retransmit_schedule(1.0, 5) == [1.0] * 5
    assert retransmit_schedule(0.5, 0) == [0.5]
    with pytest.raises(NgError):
        retransmit_schedule(0, 3)
