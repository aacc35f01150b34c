"""The fast paths of kamtool.sip give what the general code gives (speed is shown in bench/,
never asserted here): Via's one-regex path, the memoised name-addr/URI/CSeq parses, the
digest auth-param scan, the To of a local reply."""

from __future__ import annotations

import pytest

from kamtool.sip import ParseError, make_response, parse_message
from kamtool.sip import digest_header as auth_syntax
from kamtool.sip import headers as headers_mod
from kamtool.sip import name_addr as name_addr_mod
from kamtool.sip import uri as uri_mod
from kamtool.sip import via as via_mod
from kamtool.sip.digest import split_auth
from kamtool.sip.headers import parse_cseq, parse_name_addr, parse_via
from kamtool.sip.uri import parse_uri

VIAS = [
    "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport",
    "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK776;rport=5070;received=198.51.100.7",
    "SIP/2.0/tcp pc33.example.com;Branch=z9hG4bKx;TTL=16;maddr=239.1.1.1",
    "SIP/2.0/UDP host.example:5061;branch=z9hG4bK.a-b_c;x-flag",
    "SIP/2.0/UDP 192.0.2.1:99999;branch=z9hG4bK1",  # port out of range
    "SIP/2.0/UDP 192.0.2.1;rport=x;branch=z9hG4bK1",  # bad rport
    "SIP/2.0/UDP 192.0.2.1;ttl=256",  # bad ttl
    "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1",  # general path: IPv6
    "SIP / 2.0 / UDP 192.0.2.1 ; branch = z9hG4bK1",  # general path: LWS
]


def _outcome(parse, value):
    try:
        v = parse(value)
    except ParseError as exc:
        return ("error", exc.status_code, exc.reason)
    return (v.protocol, v.transport, v.host, v.port, v.params, str(v))


@pytest.mark.parametrize("value", VIAS)
def test_via_fast_path_matches_the_general_parser(value, monkeypatch):
    fast = _outcome(parse_via, value)

    class NoMatch:
        @staticmethod
        def match(_value):
            return None

    monkeypatch.setattr(via_mod, "_FAST_VIA_RE", NoMatch)
    assert fast == _outcome(parse_via, value)


def test_memoised_parses_return_the_same_immutable_value():
    a = parse_name_addr("<sip:1001@example.com>;tag=x", "From")
    assert parse_name_addr("<sip:1001@example.com>;tag=x", "To") is a
    assert (a.uri.user, a.tag) == ("1001", "x")
    assert parse_uri("sip:1001@example.com:5060") is parse_uri("sip:1001@example.com:5060")
    assert parse_cseq("7 INVITE") is parse_cseq("7 INVITE") == (7, "INVITE")


def test_parse_errors_are_not_memoised_and_star_depends_on_allow_star():
    for _ in range(2):
        with pytest.raises(ParseError):
            parse_name_addr("<sip:bad host>", "To")
    assert parse_name_addr("*", "Contact", allow_star=True).is_star
    with pytest.raises(ParseError):
        parse_name_addr("*", "Contact")
    assert "<sip:bad host>" not in name_addr_mod._NAME_ADDR_CACHE


def test_memos_are_bounded(monkeypatch):
    monkeypatch.setattr(headers_mod, "_CACHE_MAX", 8)
    monkeypatch.setattr(name_addr_mod, "_CACHE_MAX", 8)
    monkeypatch.setattr(uri_mod, "_URI_CACHE_MAX", 8)
    for i in range(50):  # values from the network: the memo must not grow without end
        parse_name_addr(f"<sip:u{i}@example.com>", "To")
        parse_cseq(f"{i} OPTIONS")
    assert len(name_addr_mod._NAME_ADDR_CACHE) <= 8
    assert len(headers_mod._CSEQ_CACHE) <= 8
    assert len(uri_mod._URI_CACHE) <= 8


@pytest.mark.parametrize(
    "value",
    [
        'Digest username="1001", realm="r", nonce="n", uri="sip:r", response="abc"',
        'Digest username="a\\"b", realm="r\\\\x",nonce=tok ,  uri="", response="z",',
        'Digest username="1001",, realm="r"',  # empty element: not a list of params
        'Digest username="unterminated, realm="r"',
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "Digest   ",
        'Digest realm="r"\r\n',
    ],
)
def test_auth_param_scan_matches_a_param_by_param_scan(value):
    scheme, pairs = split_auth(value)
    # the reference: one auth-param at a time, as RFC 2617's grammar reads
    pos, end = auth_syntax._SCHEME_RE.match(value).end(), len(value.rstrip())
    expected: list[tuple[str, str]] | None = []
    while pos < end:
        m = auth_syntax._PARAM_RE.match(value, pos)
        if m is None:
            expected = None
            break
        quoted = m.group(2)
        text = auth_syntax._UNESCAPE_RE.sub(r"\1", quoted) if quoted is not None else m.group(3)
        expected.append((m.group(1).lower(), text))
        pos = m.end()
    assert (scheme, pairs) == (value.split()[0], expected)


def test_local_reply_keeps_the_to_as_written_and_adds_the_tag():
    req = parse_message(
        b"OPTIONS sip:example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        b"From: <sip:a@example.com>;tag=f\r\n"
        b"t: Bob <sip:bob@example.com> ;Foo=Bar\r\n"
        b"Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    wire = make_response(req, 200, to_tag="t1").to_bytes()
    assert b"\r\nt: Bob <sip:bob@example.com> ;Foo=Bar;tag=t1\r\n" in wire
    to = parse_message(wire).to
    assert (to.display_name, to.tag, to.params["foo"]) == ("Bob", "t1", "Bar")
    # a To that already has a tag is copied as it is
    tagged = parse_message(wire.replace(b"SIP/2.0 200 OK", b"OPTIONS sip:example.com SIP/2.0"))
    again = make_response(tagged, 200, to_tag="t2").to_bytes()
    assert b"\r\nt: Bob <sip:bob@example.com> ;Foo=Bar;tag=t1\r\n" in again
