"""Messages, headers, mutation, responses and the stream framer of kamtool.sip."""

from __future__ import annotations

import pytest

from kamtool.sip import (
    COMPACT_FORMS,
    KeepAlive,
    LocalProtocolError,
    NameAddr,
    ParseError,
    Request,
    Response,
    SipURI,
    StreamFramer,
    Via,
    canonical_name,
    make_response,
    parse_auth,
    parse_message,
    split_list,
)

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n"
    b"Via: SIP/2.0/TCP p1.example.com;branch=z9hG4bKp1, SIP/2.0/UDP p2.example.com:5070"
    b";branch=z9hG4bKp2;received=192.0.2.7\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b'From: "Alice, A." <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>;expires=60;q=0.5\r\n"
    b"X-Custom:   keep   these  spaces  \r\n"
    b'Proxy-Authorization: Digest username="alice", realm="a,b", nonce="n", uri="sip:x"\r\n'
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 5\r\n"
    b"\r\n"
    b"v=0\r\n"
)


def invite() -> Request:
    m = parse_message(INVITE)
    assert isinstance(m, Request)
    return m


# --- reading -------------------------------------------------------------------------------------


def test_typed_routing_views():
    m = invite()
    assert m.method == "INVITE" and m.uri == SipURI("biloxi.example.com", "bob")
    assert m.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert m.cseq == (314159, "INVITE") and m.cseq.num == 314159 and m.cseq.method == "INVITE"
    assert [(v.transport, v.host, v.port, v.branch) for v in m.vias] == [
        ("UDP", "pc33.atlanta.example.com", None, "z9hG4bK776asdhds"),
        ("TCP", "p1.example.com", None, "z9hG4bKp1"),
        ("UDP", "p2.example.com", 5070, "z9hG4bKp2"),
    ]
    assert m.top_via.has_rport and m.top_via.rport is None
    assert m.vias[2].received == "192.0.2.7"
    assert m.vias[2].response_address() == ("192.0.2.7", 5070)
    assert m.from_.display_name == "Alice, A." and m.from_tag == "1928301774"
    assert m.to.display_name == "Bob" and m.to_tag is None
    assert m.max_forwards == 70 and m.expires is None
    assert [str(r.uri) for r in m.routes] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert m.routes[0].uri.lr
    (c,) = m.contacts
    assert (c.expires, c.q, c.is_star) == (60, 0.5, False)
    assert m.content_length == 5 and m.body == b"v=0\r\n"
    (cred,) = m.proxy_authorizations
    assert cred.scheme == "Digest" and cred.get("realm") == "a,b" and cred.get("uri") == "sip:x"


def test_unknown_headers_pass_through_byte_exact():
    m = invite()
    assert m.headers.get("x-custom") == "keep   these  spaces"
    assert b"X-Custom:   keep   these  spaces  \r\n" in m.to_bytes()
    assert m.to_bytes() == INVITE


def test_header_names_are_case_insensitive_with_compact_forms():
    assert canonical_name("VIA") == canonical_name(b"v") == "via"
    expected = {
        "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
        "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
        "v": "via", "o": "event", "u": "allow-events", "r": "refer-to", "b": "referred-by",
        "x": "session-expires", "y": "identity",
    }  # fmt: skip
    for short, full in expected.items():
        assert COMPACT_FORMS[short] == full
        assert canonical_name(short.upper()) == full
    data = (
        b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\n"
        b"t: sip:c@d\r\ni: x1\r\nCSEQ: 2 OPTIONS\r\nk: 100rel, timer\r\nl: 0\r\n\r\n"
    )
    m = parse_message(data)
    assert (m.call_id, m.from_tag, m.headers.get("Supported"), m.content_length) == (
        "x1", "1", "100rel, timer", 0
    )  # fmt: skip
    assert m.headers.get_all("supported") == ["100rel", "timer"]
    assert "CALL-ID" in m.headers and "i" in m.headers


def test_list_splitting_respects_quotes_and_brackets():
    assert split_list('"a, b" <sip:x@y;p=1,2>, <sip:z>;q=1 ,, c') == [
        '"a, b" <sip:x@y;p=1,2>',
        "<sip:z>;q=1",
        "c",
    ]
    with pytest.raises(ParseError):
        split_list('"unterminated, x')
    m = invite()
    m.headers.add("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth,auth-int"')
    assert m.headers.get_all("www-authenticate") == [
        'Digest realm="r", nonce="n", qop="auth,auth-int"'
    ]  # never comma-split
    assert len(m.headers.get_all("Via")) == 3 and len(m.headers.get_lines("Via")) == 2


def test_folded_lines_are_unfolded_for_reading_and_kept_for_writing():
    data = INVITE.replace(b"X-Custom:   keep", b"X-Custom:\r\n   keep").replace(
        b"CSeq: 314159 INVITE", b"CSeq: 314159\r\n\tINVITE"
    )
    m = parse_message(data)
    assert m.cseq == (314159, "INVITE")
    assert m.headers.get("X-Custom") == "keep   these  spaces"
    assert m.to_bytes() == data


def test_bare_lf_line_ends_are_tolerated():
    m = parse_message(INVITE.replace(b"\r\n", b"\n").replace(b"Length: 5", b"Length: 4"))
    assert m.call_id == "a84b4c76e66710@pc33.atlanta.example.com" and len(m.vias) == 3


def test_contact_star_and_tel_and_absolute_uris():
    data = (
        b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"From: <tel:+1-212-555-0101>;tag=1\r\nTo: <mailto:a@example.com>\r\nCall-ID: x\r\n"
        b"CSeq: 1 REGISTER\r\nContact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n"
    )
    m = parse_message(data)
    assert m.contacts[0].is_star and m.expires == 0
    assert m.from_.uri.number == "+1-212-555-0101" and m.from_.uri.is_global
    assert m.to.uri.scheme == "mailto"


# --- mutation and serialisation ----------------------------------------------------------------


def test_proxy_mutations_and_content_length():
    m = invite()
    m.prepend_via(Via("UDP", "192.0.2.1", 5060, {"branch": "z9hG4bKnew"}))
    assert m.top_via.branch == "z9hG4bKnew" and len(m.vias) == 4
    assert m.decrement_max_forwards() == 69 and m.max_forwards == 69
    m.prepend_record_route(NameAddr(SipURI("192.0.2.1", params={"lr": None})))
    assert str(m.record_routes[0]) == "<sip:192.0.2.1;lr>"
    top = m.pop_route()
    assert str(top.uri) == "sip:p1.example.com;lr" and len(m.routes) == 1
    assert m.headers.get("Route") == "<sip:p2.example.com;lr>"
    m.uri = "sip:bob@192.0.2.4:5062"
    assert m.uri.port == 5062
    assert m.headers.remove("Proxy-Authorization") == 1 and m.proxy_authorizations == []
    m.body = b"v=0\r\no=x\r\n"
    wire = m.to_bytes()
    assert wire.startswith(b"INVITE sip:bob@192.0.2.4:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1")
    again = parse_message(wire)
    assert again == m and again.content_length == len(m.body)
    assert again.headers.keys()[:3] == ["via", "via", "via"]


def test_pop_and_replace_via_in_a_joined_line():
    m = invite()
    m.pop_via()
    m.pop_via()
    assert [v.host for v in m.vias] == ["p2.example.com"]
    m.replace_top_via(m.top_via.with_params(received="198.51.100.1", rport=5999))
    v = parse_message(m.to_bytes()).top_via
    assert (v.received, v.rport, v.port) == ("198.51.100.1", 5999, 5070)
    assert m.pop_via().host == "p2.example.com" and m.pop_via() is None


def test_decrement_max_forwards_adds_the_header_when_missing():
    m = invite()
    m.headers.remove("max-forwards")
    assert m.max_forwards is None and m.decrement_max_forwards() == 69


def test_numbers_with_leading_zeros_are_their_value():
    """Max-Forwards: 00000000000000000001 is 1 (its 483 is due), not "too large" (fuzz
    audit); twenty digits of a big number are the most it can be."""
    m = parse_message(INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: " + b"0" * 19 + b"1"))
    assert m.max_forwards == 1
    m = parse_message(INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: " + b"9" * 20))
    assert m.max_forwards == 65535
    assert parse_message(INVITE.replace(b"Length: 5", b"Length: 0005")).body == b"v=0\r\n"


def test_missing_content_length_is_added_on_output():
    m = invite()
    m.headers.remove("l")
    assert m.content_length is None
    assert m.to_bytes().endswith(b"Content-Length: 5\r\n\r\nv=0\r\n")


def test_header_values_with_crlf_are_refused():
    with pytest.raises(LocalProtocolError):
        invite().headers.add("X-Evil", "a\r\nVia: injected")
    with pytest.raises(LocalProtocolError):
        invite().headers.add("Bad Name", "x")
    with pytest.raises(LocalProtocolError):
        Request("BAD METHOD", "sip:a@b")
    with pytest.raises(LocalProtocolError):
        Response(200, "OK\r\nVia: x")
    with pytest.raises(LocalProtocolError):
        Response(99)


def test_built_request_round_trips():
    r = Request(
        "OPTIONS",
        "sip:bob@example.com",
        [
            ("Via", Via("TCP", "2001:db8::1", 5061, {"branch": "z9hG4bKabc", "rport": None})),
            ("From", NameAddr("sip:alice@example.com", "Alice", {"tag": "t1"})),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "c@h"),
            ("CSeq", "1 OPTIONS"),
            ("Max-Forwards", 70),
        ],
    )
    wire = r.to_bytes()
    assert b"Via: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKabc;rport\r\n" in wire
    assert b'From: "Alice" <sip:alice@example.com>;tag=t1\r\n' in wire
    assert parse_message(wire) == r


# --- responses ------------------------------------------------------------------------------------


def test_make_response_copies_the_rfc_3261_8_2_6_fields():
    req = invite()
    req.headers.add("Timestamp", "54")
    trying = make_response(req, 100)
    assert trying.reason == "Trying" and trying.to_tag is None
    assert trying.headers.get("Timestamp") == "54"
    ok = make_response(req, 200, to_tag="as83kd", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    assert (ok.status, ok.reason, ok.to_tag) == (200, "OK", "as83kd")
    assert ok.vias == req.vias and ok.from_ == req.from_ and ok.call_id == req.call_id
    assert ok.cseq == req.cseq and ok.to.uri == req.to.uri and ok.to.display_name == "Bob"
    assert "Timestamp" not in ok.headers and "Route" not in ok.headers
    wire = ok.to_bytes()
    assert wire.startswith(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP pc33")
    parsed = parse_message(wire)
    assert isinstance(parsed, Response) and parsed == ok and parsed.content_length == 0
    rr = make_response(req, 180, to_tag="x", copy_record_route=True)
    assert rr.record_routes == req.record_routes


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status", "is_request"),
    [
        (b"", 400, None),
        (b"garbage\r\n\r\n", 400, True),
        (INVITE.replace(b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia"), 505, True),
        (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"), 400, True),
        (INVITE.replace(b"Call-ID", b"X-Call-ID"), 400, True),
        (INVITE.replace(b"<sip:bob@biloxi.example.com>", b"<sip:bob@>"), 400, True),
        (b"SIP/2.0 99 Low\r\n\r\n", 400, False),
        (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, False),
        (INVITE + b"x" * 70000, 513, True),
    ],
)
def test_parse_errors_carry_the_response_to_send(data, status, is_request):
    with pytest.raises(ParseError) as e:
        parse_message(data)
    assert e.value.status_code == status
    if is_request is not None:
        assert e.value.is_request is is_request
    assert e.value.reason


@pytest.mark.parametrize(("value", "read"), [("256", 256), ("65535", 65535),
                                             ("99999999999999999999999", 65535)])  # fmt: skip
def test_a_max_forwards_over_255_is_read_not_refused(value, read):
    """RFC 3261's grammar bounds it nowhere (1*DIGIT; RFC 4475 3.1.2.4 lets an element
    treat an overlarge one as absent): the proxy's maxfwd lowers it to its max_limit."""
    msg = parse_message(INVITE.replace(b"Max-Forwards: 70", f"Max-Forwards: {value}".encode()))
    assert msg.max_forwards == read


def test_parse_error_carries_the_request_to_answer():
    bad = INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE")
    with pytest.raises(ParseError) as e:
        parse_message(bad)
    resp = make_response(e.value.request, e.value.status_code, e.value.reason, to_tag="t9")
    wire = resp.to_bytes()
    assert wire.startswith(b"SIP/2.0 400 CSeq method does not match Request-Line\r\nVia: ")
    assert b"CSeq: 314159 BYE\r\n" in wire and resp.to_tag == "t9"
    broken_to = INVITE.replace(b"To: Bob <sip:bob@biloxi.example.com>", b"To: <<<")
    with pytest.raises(ParseError) as e:
        parse_message(broken_to)
    resp = make_response(e.value.request, 400, e.value.reason, to_tag="t9")
    assert b"To: <<<\r\n" in resp.to_bytes()
    with pytest.raises(ParseError) as e:
        parse_message(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n")
    assert e.value.request is None and not e.value.respond


def test_lazy_parse_defers_header_errors_to_access():
    bad = INVITE.replace(b"<sip:alice@atlanta.example.com>", b"<sip:alice@@atlanta>")
    with pytest.raises(ParseError):
        parse_message(bad)
    m = parse_message(bad, eager=False)
    assert m.call_id and m.cseq.num == 314159
    with pytest.raises(ParseError):
        _ = m.from_


# --- stream framing ---------------------------------------------------------------------------


def test_stream_framer_partial_input_several_messages_and_keepalives():
    ok = make_response(invite(), 200, to_tag="t").to_bytes()
    stream = b"\r\n\r\n" + INVITE + ok + b"\r\n" + INVITE
    framer = StreamFramer()
    events = []
    for i in range(len(stream)):  # one byte at a time
        framer.feed(stream[i : i + 1])
        events.extend(framer)
    assert [type(e).__name__ for e in events] == [
        "KeepAlive",
        "Request",
        "Response",
        "KeepAlive",
        "Request",
    ]
    assert events[0] == KeepAlive(True) and events[3] == KeepAlive(False)
    assert events[1].to_bytes() == INVITE and events[2].to_bytes() == ok
    assert framer.buffered == 0
    framer.feed(stream)  # and all at once
    assert len(list(framer)) == 5
    client = StreamFramer(pongs=True)
    client.feed(b"\r\n")
    assert client.next_event() == KeepAlive(False) and client.next_event() is None


def test_bare_lfs_before_a_message_are_skipped_however_many():
    """Thousands of LFs on a stream recursed once each (RecursionError: the connection
    dropped); one before a datagram made it unreadable. Kamailio skips them (fuzz audit)."""
    framer = StreamFramer()
    framer.feed(b"\n" * 5000 + INVITE)
    assert framer.next_event().to_bytes() == INVITE and framer.buffered == 0
    framer.feed(b"\n\r\n" + INVITE)  # a CRLF keep-alive after them is still one
    assert framer.next_event() == KeepAlive(False) and framer.next_event().to_bytes() == INVITE
    assert parse_message(b"\n" + INVITE).to_bytes() == INVITE
    assert parse_message(b"\r\n\n\r\n" + INVITE).method == "INVITE"


def test_stream_framer_without_content_length_takes_no_body():
    framer = StreamFramer()
    framer.feed(INVITE.replace(b"Content-Length: 5\r\n", b"") + INVITE)
    first = framer.next_event()
    assert first.body == b"" and "content-length" not in first.headers
    with pytest.raises(ParseError) as e:  # the body became garbage before the next message
        framer.next_event()
    assert e.value.reason == "Malformed Request-Line"


def test_stream_framer_errors():
    framer = StreamFramer(max_size=2000)
    framer.feed(INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 1 BYE") + INVITE)
    with pytest.raises(ParseError):
        framer.next_event()  # bad message, intact framing: the stream goes on
    assert framer.next_event().to_bytes() == INVITE
    framer.feed(INVITE.replace(b"Content-Length: 5", b"Content-Length: x"))
    with pytest.raises(ParseError):
        framer.next_event()
    assert framer.broken is not None
    with pytest.raises(ParseError):
        framer.next_event()  # stays broken: the transport closes
    two = StreamFramer()
    two.feed(INVITE.replace(b"Content-Length: 5", b"Content-Length: 5\r\nl: 3"))
    with pytest.raises(ParseError):
        two.next_event()
    assert two.broken is not None
    folded = StreamFramer()
    folded.feed(INVITE.replace(b"Content-Length: 5", b"Content-Length:\r\n 5") + INVITE)
    assert folded.next_event().body == b"v=0\r\n" and folded.next_event().body == b"v=0\r\n"
    big = StreamFramer(max_size=2000)
    big.feed(b"INVITE sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 400)
    with pytest.raises(ParseError) as e:
        big.next_event()
    assert e.value.status_code == 513 and e.value.is_request


def test_parse_auth_digest_and_unknown_scheme():
    c = parse_auth('Digest username="bob", realm="biloxi.com", nc=00000001, qop=auth, cnonce="a,b"')
    assert c.params == {
        "username": "bob",
        "realm": "biloxi.com",
        "nc": "00000001",
        "qop": "auth",
        "cnonce": "a,b",
    }
    assert parse_auth("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").scheme == "Basic"


@pytest.mark.parametrize("bad", ['Digest realm="a" nonce="b"', "Digest realm=", 'Digest realm="a'])
def test_message_view_and_digest_check_reject_the_same_credentials(bad):
    """One auth-param parser: what the message view refuses, authentication refuses too."""
    from kamtool.sip.digest import DigestParseError, parse_challenge

    with pytest.raises(ParseError):
        parse_auth(bad)
    with pytest.raises(DigestParseError):
        parse_challenge(bad)


@pytest.mark.parametrize(
    ("start", "status"),
    [
        (b"INVITE sip:bob@biloxi.example.com SIP/7.0", 505),
        (b"INVITE <sip:bob@biloxi.example.com> SIP/2.0", 400),
        (b"INVITE  sip:bob@biloxi.example.com   SIP/2.0", 400),
    ],
)
def test_a_refused_request_line_still_gives_the_request_to_answer(start, status):
    bad = start + INVITE[INVITE.index(b"\r\n") :]
    with pytest.raises(ParseError) as e:
        parse_message(bad)
    assert e.value.status_code == status and e.value.respond
    wire = make_response(e.value.request, status, e.value.reason).to_bytes()
    assert wire.startswith(f"SIP/2.0 {status} ".encode()) and b"\r\nVia: " in wire
    # a start line that does not even split into three tokens leaves nothing to answer
    with pytest.raises(ParseError) as e:
        parse_message(b"INVITE" + INVITE[INVITE.index(b"\r\n") :])
    assert e.value.request is None


def test_top_via_edits_keep_the_parsed_vias_in_step():
    """A proxy's three Via edits (add its own, mark received, strip its own) and copies keep
    the parsed Via list instead of re-parsing it; it must equal a fresh parse every time."""
    from kamtool.sip.headers import Via

    m = parse_message(INVITE)
    before = [str(v) for v in m.vias]
    out = m.copy()
    out.prepend_via(Via("UDP", "192.0.2.9", 5070, {"branch": "z9hG4bK-ours"}))
    out.replace_top_via(out.top_via.with_params(received="192.0.2.8"))
    fresh = parse_message(out.to_bytes())
    assert [str(v) for v in out.vias] == [str(v) for v in fresh.vias]
    assert out.top_via.branch == "z9hG4bK-ours" and out.top_via.received == "192.0.2.8"
    assert [str(v) for v in m.vias] == before  # the original is untouched
    out.pop_via()
    assert [str(v) for v in out.vias] == [str(v) for v in parse_message(out.to_bytes()).vias]
    out.prepend_via("SIP/2.0/TCP 192.0.2.7;branch=z9hG4bK-text")  # text: parsed again
    assert out.top_via.transport == "TCP" and len(out.vias) == len(before) + 1
