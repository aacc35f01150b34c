"""Flow tokens (RFC 5626 5.2) of kamtool.proxy.outbound: what an edge puts in its Path and
Record-Route user parts must come back as the same flow, and nothing else may."""

from __future__ import annotations

from kamtool.proxy.outbound import Flow, FlowTokens, rr_with_token

FLOW = Flow("ws", "192.0.2.7", 40123, "ws:127.0.0.1:8080")


def test_a_token_names_its_flow_and_is_a_plain_user_part():
    tokens = FlowTokens("a key")
    token = tokens.encode(FLOW)
    assert tokens.decode(token) == FLOW
    assert token.replace("-", "").replace("_", "").isalnum()  # unreserved only
    assert FlowTokens("a key").decode(token) == FLOW  # the same key: another process


def test_forged_or_damaged_tokens_name_no_flow():
    tokens = FlowTokens("a key")
    token = tokens.encode(FLOW)
    assert FlowTokens("another key").decode(token) is None
    damaged = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    assert tokens.decode(damaged) is None
    assert tokens.decode("") is None and tokens.decode("%%%") is None
    forged = tokens.encode(Flow("ws", "203.0.113.9", 5060, FLOW.socket))
    assert tokens.decode(forged[:14] + token[14:]) is None  # a MAC from another flow


def test_record_route_gets_token_and_ob():
    rr = "<sip:127.0.0.1:5070;transport=tcp;lr;ftag=a1;did=x.1>"
    assert (
        rr_with_token(rr, "TOK") == "<sip:TOK@127.0.0.1:5070;transport=tcp;lr;ftag=a1;did=x.1;ob>"
    )
    assert rr_with_token("<sip:u@127.0.0.1;lr>", "TOK") == "<sip:u@127.0.0.1;lr>"
