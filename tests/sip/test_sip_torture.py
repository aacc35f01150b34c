"""RFC 4475 and RFC 5118 torture messages: parsed values for the valid ones, the exact
verdict (response status, or "drop" for a response) for the invalid ones."""

from __future__ import annotations

import pytest

from kamtool.sip import (
    AbsoluteURI,
    ParseError,
    Request,
    Response,
    SipURI,
    StreamFramer,
    check_request,
    parse_message,
)
from tests.sip.torture import corpus, load


def parse(name: str) -> Request | Response:
    return parse_message(load(name))


# --- RFC 4475 3.1.1 valid messages ---------------------------------------------------------------


def test_wsinv_short_tortuous_invite():  # 3.1.1.1
    m = parse("wsinv")
    assert isinstance(m, Request) and m.method == "INVITE"
    assert str(m.uri) == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert m.uri.params == {"unknownparam": None}
    assert m.to.tag == "1918181833n" and str(m.to.uri) == "sip:vivekg@chair-dnrc.example.com"
    assert m.from_.display_name == 'J Rosenberg \\"' and m.from_.tag == "98asjd8"
    assert m.max_forwards == 68
    assert m.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert m.cseq == (9, "INVITE")  # "0009\r\n  INVITE": folded
    assert [(v.transport, v.host, v.branch) for v in m.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.headers.get("s") == "" and m.headers.get("Subject") == ""
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (contact,) = m.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert contact.q == 0.33
    assert m.content_length == 150 and len(m.body) == 150 and m.body.startswith(b"v=0\r\n")
    assert m.to_bytes() == load("wsinv")  # untouched headers go back byte-exact


def test_intmeth_wide_range_of_valid_characters():  # 3.1.1.2
    m = parse("intmeth")
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.cseq == (139122385, m.method)
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.uri.host == "example.com"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.max_forwards == 255
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    with pytest.raises(ParseError) as e:  # a UAS does not know the method
        check_request(m, role="uas")
    assert e.value.status_code == 501
    check_request(m, role="proxy")  # a proxy forwards it


def test_esc01_valid_percent_escaping():  # 3.1.1.3
    m = parse("esc01")
    assert m.uri.user == "sips:user@example.com" and m.uri.host == "example.net"
    assert m.to.uri.user == "user"
    assert m.from_.uri.user == "I have spaces"
    (c,) = m.contacts
    assert c.uri.user == "caller" and c.uri.params == {"lr": None, "name": "value%41"}
    assert m.call_id == "esc01.239409asdfakjkn23onasd0-3234"
    assert m.content_type == "application/sdp"


def test_escnull_escaped_nulls_in_uris():  # 3.1.1.4
    m = parse("escnull")
    assert m.to.uri.user == "null-\x00-null" and m.from_.uri.user == "null-\x00-null"
    assert [c.uri.user for c in m.contacts] == ["\x00", "\x00\x00"]
    assert m.content_length == 0


def test_esc02_percent_not_an_escape():  # 3.1.1.5
    m = parse("esc02")
    assert m.method == "RE%47IST%45R" and m.cseq == (29344, "RE%47IST%45R")
    assert m.to.display_name == "%Z%45"
    assert m.top_via.branch == "z9hG4bK209%fzsnel234"
    # "C%6Fntact" is an unknown header, not a Contact
    assert [c.uri.host for c in m.contacts] == ["host1.example.com", "host3.example.com"]
    assert m.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_lwsdisp_no_lws_between_display_name_and_laquot():  # 3.1.1.6
    m = parse("lwsdisp")
    assert m.from_.display_name == "caller" and m.from_.tag == "323"


def test_longreq_long_values():  # 3.1.1.7
    m = parse("longreq")
    assert m.to.display_name.startswith("I have a user name of extremeextreme")
    assert m.to.uri.port == 6000 and len(m.to.uri.params) == 3
    assert m.from_.uri.user.startswith("amazinglylongcallername") and len(m.from_.uri.user) > 100
    assert m.call_id.startswith("longreq.one") and m.call_id.endswith("longcallid")
    assert len(m.vias) == 34
    assert str(m.vias[0]) == "SIP/2.0/TCP sip33.example.com"
    assert m.vias[-1].received == "192.0.2.5" and len(m.vias[-1].branch) > 200
    assert m.headers.get("Unknown-" + "Long" * 20 + "-Name").startswith("unknown-longlong")
    assert len(m.body) == m.content_length == 150
    assert m.to_bytes() == load("longreq")


def test_dblreq_extra_trailing_octets_in_udp_datagram():  # 3.1.1.8
    m = parse("dblreq")
    assert m.method == "REGISTER" and m.body == b"" and m.call_id.startswith("dblreq.0ha0")
    assert b"INVITE" not in m.to_bytes()


def test_semiuri_semicolon_in_user_part():  # 3.1.1.9
    m = parse("semiuri")
    assert m.uri.user == "user;par=u@example.net" and m.uri.host == "example.com"
    assert m.uri.params == {}
    assert m.headers.get_all("Accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def test_transports_varied_and_unknown():  # 3.1.1.10
    m = parse("transports")
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert m.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_mpart01_multipart_body_with_nul_octets():  # 3.1.1.11
    data = load("mpart01")
    m = parse_message(data)
    assert m.method == "MESSAGE" and m.content_type.startswith("multipart/mixed;boundary=")
    assert len(m.body) == m.content_length
    assert b"\x00" in m.body and m.body == data[data.index(b"\r\n\r\n") + 4 :]
    assert m.top_via.has_rport and m.top_via.rport is None
    assert m.to_bytes() == data


def test_unreason_utf8_reason_phrase():  # 3.1.1.12
    m = parse("unreason")
    assert isinstance(m, Response) and m.status == 200
    assert m.reason.startswith("= 2**3 * 5**2 но") and m.reason.endswith("- простое")
    assert m.to_bytes() == load("unreason")


def test_noreason_empty_reason_phrase():  # 3.1.1.13
    m = parse("noreason")
    assert m.status == 100 and m.reason == ""


# --- RFC 4475 3.1.2 invalid messages (and 3.3 application-level refusals) -----------------------
# name -> (status, is_request). For responses (is_request False) the verdict is "drop".
PARSE_VERDICTS = {
    "badinv01": (400, True),  # 3.1.2.1 extraneous header field separators
    "clerr": (400, True),  # 3.1.2.2 Content-Length larger than message
    "ncl": (400, True),  # 3.1.2.3 negative Content-Length
    "scalar02": (400, True),  # 3.1.2.4 request scalar fields with overlarge values
    "scalarlg": (400, False),  # 3.1.2.5 response scalar fields with overlarge values: drop
    "quotbal": (400, True),  # 3.1.2.6 unterminated quoted string in display name
    "ltgtruri": (400, True),  # 3.1.2.7 <> enclosing Request-URI
    "lwsruri": (400, True),  # 3.1.2.8 malformed SIP Request-URI (embedded LWS)
    "lwsstart": (400, True),  # 3.1.2.9 multiple SP separating Request-Line elements
    "trws": (400, True),  # 3.1.2.10 SP characters at end of Request-Line
    "regbadct": (400, True),  # 3.1.2.12 failure to enclose name-addr URI in <>
    "badaspec": (400, True),  # 3.1.2.13 spaces within addr-spec
    "baddn": (400, True),  # 3.1.2.14 non-token characters in display name
    "badvers": (505, True),  # 3.1.2.15 unknown protocol version
    "mismatch01": (400, True),  # 3.1.2.16 start line and CSeq method mismatch
    "mismatch02": (501, True),  # 3.1.2.17 unknown method with CSeq method mismatch
    "bigcode": (400, False),  # 3.1.2.18 overlarge response code: drop
    "insuf": (400, True),  # 3.3.1 missing required header fields
    "multi01": (400, True),  # 3.3.8 multiple values in single-value fields
    "mcl01": (400, True),  # 3.3.9 multiple Content-Length values
    "ipv6-bad": (400, True),  # RFC 5118 4.2 IPv6 reference without brackets
}


@pytest.mark.parametrize("name", sorted(PARSE_VERDICTS))
def test_invalid_messages_get_the_rfc_verdict(name):
    status, is_request = PARSE_VERDICTS[name]
    data = load(name)
    with pytest.raises(ParseError) as e:
        parse_message(data)
    assert (e.value.status_code, e.value.is_request) == (status, is_request), e.value.reason
    assert e.value.respond is is_request


# requests that parse, then get refused by the proxy (p) or UAS (u) rules
CHECK_VERDICTS = {
    "escruri": ("proxy", 400),  # 3.1.2.11 escaped headers in Request-URI
    "unkscm": ("proxy", 416),  # 3.3.2 unknown scheme in Request-URI
    "novelsc": ("proxy", 416),  # 3.3.3 known but atypical scheme (soap.beep)
    "zeromf": ("proxy", 483),  # 3.3.11 Max-Forwards of zero
}


@pytest.mark.parametrize("name", sorted(CHECK_VERDICTS))
def test_refused_requests_get_the_rfc_verdict(name):
    role, status = CHECK_VERDICTS[name]
    m = parse(name)
    with pytest.raises(ParseError) as e:
        check_request(m, role=role)
    assert e.value.status_code == status and e.value.respond


def test_bext01_require_and_proxy_require_get_420_with_unsupported():  # 3.3.5
    m = parse("bext01")
    with pytest.raises(ParseError) as e:
        check_request(m, role="proxy")
    assert e.value.status_code == 420
    assert e.value.headers == (("Unsupported", "noProxiesSupportThis, norDoAnyProxiesSupportThis"),)
    with pytest.raises(ParseError) as e:
        check_request(m, role="uas")
    assert e.value.headers == (("Unsupported", "nothingSupportsThis, nothingSupportsThisEither"),)
    check_request(
        m,
        role="proxy",
        supported=["noProxiesSupportThis", "norDoAnyProxiesSupportThis"],
    )


def test_zeromf_options_may_be_answered_by_a_uas():  # 3.3.11
    m = parse("zeromf")
    assert m.max_forwards == 0
    check_request(m, role="uas")


def test_invut_unknown_content_type_is_415_at_a_uas():  # 3.3.6
    m = parse("invut")
    assert m.content_type == "application/unknownformat"
    with pytest.raises(ParseError) as e:
        check_request(m, role="uas", content_types=["application/sdp"])
    assert e.value.status_code == 415 and e.value.headers == (("Accept", "application/sdp"),)


def test_sdp01_unacceptable_accept_is_406_at_a_uas():  # 3.3.15
    m = parse("sdp01")
    assert m.headers.get("Accept") == "text/nobodyKnowsThis"
    with pytest.raises(ParseError) as e:
        check_request(m, role="uas", answer_types=["application/sdp"])
    assert e.value.status_code == 406 and e.value.headers == (("Accept", "application/sdp"),)
    check_request(parse("wsinv"), role="uas", answer_types=["application/sdp"])  # no Accept
    check_request(parse("semiuri"), role="uas", answer_types=["application/sdp"])  # listed


def test_valid_odd_requests_pass_the_checks():
    # 3.3.4 unknown schemes in header fields, 3.3.7 unknown auth scheme, 3.3.12/13 contact
    # params, 3.3.14 escaped headers in a Contact URI, 3.3.15 unacceptable Accept, 3.2.1
    # magic cookie without id, 3.4.1 RFC 2543 syntax, date with a non-GMT zone (ignored)
    for name in ("unksm2", "regaut01", "cparam01", "cparam02", "regescrt", "sdp01", "badbranch",
                 "inv2543", "baddate"):  # fmt: skip
        m = parse(name)
        check_request(m, role="proxy")
    unk = parse("unksm2")
    assert isinstance(unk.to.uri, AbsoluteURI) and unk.to.uri.scheme == "isbn"
    assert str(unk.from_.uri) == "http://www.example.com"
    assert unk.contacts[0].uri.scheme == "name"
    (cred,) = parse("regaut01").authorizations
    assert cred.scheme == "NoOneKnowsThisScheme" and cred.params == {"opaque-data": "here"}
    c1, c2 = parse("cparam01").contacts[0], parse("cparam02").contacts[0]
    assert c1.params == {"unknownparam": None} and c1.uri.params == {}  # header param
    assert c2.params == {} and c2.uri.params == {"unknownparam": None}  # URI param
    reg = parse("regescrt").contacts[0].uri
    assert reg.headers == (("Route", "<sip:sip.example.com>"),)
    bb = parse("badbranch").top_via
    assert bb.branch == "z9hG4bK" and bb.is_rfc3261
    old = parse("inv2543")
    assert old.top_via.branch is None and not old.top_via.is_rfc3261
    assert old.from_.tag is None and old.max_forwards is None
    assert old.record_routes[0].uri.params["maddr"] == "ss1.example.com"
    assert old.body.startswith(b"v=0")  # no Content-Length on UDP: the rest is the body


def test_bcast_response_with_broadcast_via_parses():  # 3.3.10
    m = parse("bcast")
    assert m.status == 200 and m.vias[1].host == "255.255.255.255"


# --- RFC 5118 IPv6 --------------------------------------------------------------------------------


def test_ipv6_references():
    good = parse("ipv6-good")  # 4.1
    assert good.uri.host == "2001:db8::10" and good.uri.port is None
    assert good.top_via.host == "2001:db8::9:1" and good.contacts[0].uri.host == "2001:db8::1"
    amb = parse("port-ambiguous")  # 4.3: the "port" is the last group of the address
    assert amb.uri.host == "2001:db8::10:5070" and amb.uri.port is None
    una = parse("port-unambiguous")  # 4.4
    assert una.uri.host == "2001:db8::10" and una.uri.port == 5070
    assert str(una.uri) == "sip:[2001:db8::10]:5070"
    v1 = parse("via-received-param-with-delim").top_via  # 4.5, tolerated
    v2 = parse("via-received-param-no-delim").top_via  # 4.5, per the grammar
    assert v1.received == v2.received == "2001:db8::9:255"
    assert v1.response_address() == ("2001:db8::9:255", 5060)
    sdp = parse("ipv6-in-sdp")  # 4.6
    assert b"c=IN IP6 2001:db8::20\r\n" in sdp.body and sdp.to.uri.host == "2001:db8::10"
    multi = parse("mult-ip-in-header")  # 4.7
    assert [(v.host, v.port) for v in multi.vias] == [
        ("2001:db8::9:1", 6050),
        ("192.0.2.1", None),
        ("2001:db8::9:255", None),
    ]
    assert multi.vias[2].received == "192.0.2.200"
    assert b"c=IN IP6 2001:db8::1\r\n" in parse("mult-ip-in-sdp").body  # 4.8
    mapped = parse("ipv4-mapped-ipv6")  # 4.9
    assert (mapped.top_via.host, mapped.top_via.port) == ("::ffff:192.0.2.10", 19823)
    assert mapped.contacts[0].uri.host == "::ffff:192.0.2.2"
    bug = parse("ipv6-bug-abnf-3-colons")  # 4.10: extra colon tolerated, dropped
    ok = parse("ipv6-correct-abnf-2-colons")
    assert bug.uri.host == ok.uri.host == "2001:db8::192.0.2.1"
    assert bug.uri == ok.uri and bug.to.uri == SipURI("2001:db8::c000:201", "user")


# --- every valid message survives the stream framer and a round trip ------------------------------


def test_all_valid_messages_round_trip_and_frame():
    valid = [data for key, data in corpus().items() if key.startswith("valid/")]
    assert len(valid) == 35  # RFC 4475: 24, RFC 5118: 11
    framer = StreamFramer()
    wires = []
    for data in valid:
        m = parse_message(data)
        wire = m.to_bytes()
        assert parse_message(wire) == m
        wires.append(wire)
    stream = b"\r\n\r\n".join(wires)
    got = []
    for i in range(0, len(stream), 97):  # odd-sized reads split messages anywhere
        framer.feed(stream[i : i + 97])
        got.extend(framer)
    msgs = [g for g in got if not hasattr(g, "ping")]
    assert [m.to_bytes() for m in msgs] == wires
    assert sum(1 for g in got if getattr(g, "ping", False)) == len(wires) - 1
