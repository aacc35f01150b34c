"""Hypothesis properties: parse(serialise(x)) == x for URIs, addresses, Vias and whole
messages; mutated valid messages raise nothing but ParseError (bounded: see bench/fuzz_sip.py
for the long run)."""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamtool.sip import (
    CSeq,
    NameAddr,
    ParseError,
    Request,
    Response,
    SipURI,
    StreamFramer,
    Via,
    check_request,
    parse_message,
    parse_name_addr,
    parse_uri,
    parse_via,
)
from tests.sip.torture import corpus

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
lower_names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10)
NO_SURROGATES = ("Cs",)
any_text = st.text(
    st.characters(min_codepoint=0, exclude_characters="\r\n", exclude_categories=NO_SURROGATES),
    max_size=20,
)
label = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
hostnames = st.lists(label, min_size=1, max_size=4).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda a: ipaddress.IPv6Address(a).compressed)
hosts = st.one_of(hostnames, ipv4, ipv6)
ports = st.none() | st.integers(0, 65535)


@st.composite
def sip_uris(draw) -> SipURI:
    user = draw(
        st.none()
        | st.text(
            st.characters(min_codepoint=0, exclude_categories=NO_SURROGATES),
            min_size=1,
            max_size=12,
        )
    )
    password = draw(st.none() | any_text) if user is not None else None
    params = draw(st.dictionaries(lower_names, st.none() | any_text, max_size=4))
    headers = tuple(draw(st.lists(st.tuples(tokens, any_text), max_size=2)))
    return SipURI(
        draw(hosts),
        user,
        scheme=draw(st.sampled_from(["sip", "sips"])),
        password=password,
        port=draw(ports),
        params=params,
        headers=headers,
    )


@SETTINGS
@given(sip_uris())
def test_uri_round_trip(u):
    back = parse_uri(str(u))
    assert back == u
    assert (back.scheme, back.user, back.password, back.port, back.params, back.headers) == (
        u.scheme, u.user, u.password, u.port, u.params, u.headers
    )  # fmt: skip
    assert back.host.lower() == u.host.lower() or ":" in u.host


gen_values = st.one_of(tokens, hostnames, ipv4, st.just(None))


@st.composite
def name_addrs(draw) -> NameAddr:
    params = draw(st.dictionaries(lower_names, gen_values, max_size=3))
    return NameAddr(draw(sip_uris()), draw(st.none() | any_text), params)


@SETTINGS
@given(name_addrs())
def test_name_addr_round_trip(na):
    assert parse_name_addr(str(na)) == na


@st.composite
def vias(draw) -> Via:
    params = draw(st.dictionaries(lower_names, gen_values, max_size=3))
    params["branch"] = "z9hG4bK" + draw(tokens)
    if draw(st.booleans()):
        params["rport"] = draw(st.none() | st.integers(1, 65535).map(str))
    if draw(st.booleans()):
        params["received"] = draw(st.one_of(ipv4, ipv6))
    return Via(
        draw(st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS"])), draw(hosts), draw(ports), params
    )


@SETTINGS
@given(vias())
def test_via_round_trip(v):
    back = parse_via(str(v))
    assert back == v and back.branch == v.branch and back.received == v.received


header_values = st.text(
    st.characters(min_codepoint=32, exclude_characters="\x7f", exclude_categories=NO_SURROGATES),
    max_size=30,
).map(str.strip)


@st.composite
def messages(draw) -> Request | Response:
    method = draw(st.sampled_from(["INVITE", "REGISTER", "OPTIONS", "BYE", "X-" + draw(tokens)]))
    hdrs: list[tuple[str, object]] = [
        ("Via", v) for v in draw(st.lists(vias(), min_size=1, max_size=3))
    ]
    hdrs += [
        ("From", draw(name_addrs()).with_params(tag=draw(tokens))),
        ("To", draw(name_addrs())),
        ("Call-ID", draw(tokens) + draw(st.sampled_from(["", "@host"]))),
        ("CSeq", CSeq(draw(st.integers(0, 2**31 - 1)), method)),
        ("Max-Forwards", draw(st.integers(0, 255))),
    ]
    hdrs += [("Route", r) for r in draw(st.lists(name_addrs(), max_size=2))]
    hdrs += [("Contact", c) for c in draw(st.lists(name_addrs(), max_size=2))]
    for name, value in draw(st.lists(st.tuples(tokens, header_values), max_size=4)):
        hdrs.append(("X-" + name, value))
    hdrs = draw(st.permutations(hdrs)) if draw(st.booleans()) else hdrs
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        return Request(method, draw(sip_uris()).replace(headers=()), hdrs, body)
    return Response(draw(st.integers(100, 699)), draw(header_values), hdrs, body)


@SETTINGS
@given(messages())
def test_message_round_trip(m):
    wire = m.to_bytes()
    back = parse_message(wire)
    assert back == m
    assert back.to_bytes() == wire
    assert back.vias == m.vias and back.from_ == m.from_ and back.to == m.to
    assert back.cseq == m.cseq and back.routes == m.routes and back.contacts == m.contacts
    assert back.body == m.body and back.content_length == len(m.body)
    framer = StreamFramer()
    framer.feed(wire + b"\r\n\r\n" + wire)
    assert [e == m for e in framer] == [True, False, True]  # message, ping, message


SEEDS = list(corpus().values())


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(SEEDS),
    st.lists(
        st.tuples(
            st.integers(0, 2000),
            st.integers(0, 8),
            st.binary(max_size=6)
            | st.sampled_from(
                [b"\r\n", b"\r\n ", b";", b",", b"<", b">", b'"', b"[", b":", b"%", b"99999999999"]
            ),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_messages_raise_only_parse_error(seed, edits):
    data = bytearray(seed)
    for pos, cut, insert in edits:
        pos %= len(data) + 1
        data[pos : pos + cut] = insert
    try:
        m = parse_message(bytes(data))
    except ParseError as e:
        assert 400 <= e.status_code <= 599 and e.reason
        return
    m.validate()
    if m.is_request:
        try:
            check_request(m, role="uas")
        except ParseError as e:
            assert e.status_code in (400, 415, 416, 420, 501)
    assert parse_message(m.to_bytes()) == m
