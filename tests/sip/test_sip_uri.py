"""URIs (RFC 3261 19.1), name-addrs, Via and branch helpers."""

from __future__ import annotations

import pytest

from kamtool.sip import (
    MAGIC_COOKIE,
    AbsoluteURI,
    ParseError,
    TelURI,
    make_branch,
    parse_message,
    parse_name_addr,
    parse_uri,
    parse_via,
    parse_via_list,
    rfc2543_key,
    stateless_branch,
)


def test_sip_uri_components():
    u = parse_uri(
        "sips:alice:secret@atlanta.com:5061;transport=tcp;lr;maddr=239.0.0.1?subject=hi%20there&x=1"
    )
    assert (u.scheme, u.user, u.password, u.host, u.port) == (
        "sips", "alice", "secret", "atlanta.com", 5061
    )  # fmt: skip
    assert u.params == {"transport": "tcp", "lr": None, "maddr": "239.0.0.1"}
    assert u.headers == (("subject", "hi there"), ("x", "1"))
    assert u.secure and u.lr and u.transport == "tcp" and u.maddr == "239.0.0.1"
    assert u.host_port == "atlanta.com:5061" and u.aor == "alice@atlanta.com"
    v6 = parse_uri(b"sip:[2001:DB8::1]:5070;transport=udp")
    assert v6.host == "2001:DB8::1" and v6.port == 5070 and v6.host_port == "[2001:DB8::1]:5070"
    assert v6 == parse_uri("sip:[2001:db8:0::1]:5070;transport=UDP")  # same address


def test_escaping_is_undone_and_redone():
    u = parse_uri("sip:%61lice%20smith;x=%3B@example.com;p=a%3Bb")
    assert u.user == "alice smith;x=;" and u.params == {"p": "a;b"}
    assert str(u) == "sip:%61lice%20smith;x=%3B@example.com;p=a%3Bb"  # text kept until changed
    rebuilt = str(u.replace(port=5060))
    assert rebuilt == "sip:alice%20smith;x=;@example.com:5060;p=a%3Bb"
    assert parse_uri(rebuilt) == u.replace(port=5060)
    assert parse_uri("sip:null-%00@h").user == "null-\x00"


def test_tel_and_other_schemes():
    t = parse_uri("tel:+1-201-555-0123;ext=1234;phone-context=+1")
    assert isinstance(t, TelURI) and t.number == "+1-201-555-0123" and t.params["ext"] == "1234"
    assert t == parse_uri("tel:+1.201.555.0123;EXT=1234;phone-context=+1")
    assert t != parse_uri("tel:+1-201-555-0124;ext=1234;phone-context=+1")
    other = parse_uri("urn:service:sos")
    assert (
        isinstance(other, AbsoluteURI) and other.scheme == "urn" and other.opaque == "service:sos"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "sip:",
        "sip:@example.com",
        "sip:user@",
        "sip:user@host:99999",
        "sip:user@host:port",
        "sip:2001:db8::10",
        "sip:user@[2001:db8::zz]",
        "sip:user@exa mple.com",
        "sip:us<er@example.com",
        "sip:user@example.com;%zz",
        "sip:user@example.com?novalue",
        "tel:xyz",
        "no-scheme",
        "<sip:user@example.com>",
    ],
)
def test_malformed_uris(bad):
    with pytest.raises(ParseError):
        parse_uri(bad)


# RFC 3261 section 19.1.4 examples
EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
]
NOT_EQUIVALENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
    ("sip:alice:pw@atlanta.com", "sip:alice@atlanta.com"),
    ("sip:alice@atlanta.com;user=phone", "sip:alice@atlanta.com"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_rfc3261_equivalent_uris(a, b):
    ua, ub = parse_uri(a), parse_uri(b)
    assert ua == ub and ub == ua and hash(ua) == hash(ub)


@pytest.mark.parametrize(("a", "b"), NOT_EQUIVALENT)
def test_rfc3261_different_uris(a, b):
    assert parse_uri(a) != parse_uri(b) and parse_uri(b) != parse_uri(a)


def test_name_addr_forms():
    a = parse_name_addr('"Mr. \\"Quoted\\"" <sip:a@b.com;lr>;tag=x;expires=30')
    assert a.display_name == 'Mr. "Quoted"' and a.uri.params == {"lr": None}
    assert a.tag == "x" and a.expires == 30
    b = parse_name_addr("Bob Smith <sip:b@c>")
    assert b.display_name == "Bob Smith" and b.params == {}
    c = parse_name_addr("sip:c@d;tag=1")  # addr-spec: params belong to the header
    assert c.display_name is None and c.uri.params == {} and c.tag == "1"
    d = parse_name_addr('"UTF-8 ünïcödé" <sip:d@e>')
    assert d.display_name == "UTF-8 ünïcödé"
    assert str(d.with_params(tag="z")) == '"UTF-8 ünïcödé" <sip:d@e>;tag=z'
    assert parse_name_addr("Jürgen Groß <sip:j@e>").display_name == "Jürgen Groß"
    for bad in ("Bob, Smith <sip:b@c>", "<sip:b@c", '"open <sip:b@c>', "sip:b@c?x=y"):
        with pytest.raises(ParseError):
            parse_name_addr(bad)


def test_via_parameters():
    v = parse_via("SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKx;maddr=224.2.0.1;ttl=16")
    assert v.has_rport and v.rport is None and v.maddr == "224.2.0.1" and v.ttl == 16
    assert v.response_address() == ("224.2.0.1", 5060)
    w = v.without_params("maddr", "ttl").with_params(received="198.51.100.7", rport=40000)
    assert w.response_address() == ("198.51.100.7", 40000)
    assert str(w) == "SIP/2.0/UDP 192.0.2.1:5060;rport=40000;branch=z9hG4bKx;received=198.51.100.7"
    assert parse_via(str(w)) == w
    tcp = parse_via("SIP/2.0/tcp [2001:db8::9]:5061 ; branch = z9hG4bKy")
    assert (tcp.transport, tcp.host, tcp.port, tcp.branch) == (
        "TCP",
        "2001:db8::9",
        5061,
        "z9hG4bKy",
    )
    for bad in (
        "SIP/2.0/UDP",
        "SIP/2.0 192.0.2.1",
        "SIP/2.0/UDP host;branch",
        "SIP/2.0/UDP host;ttl=300",
        "SIP/2.0/UDP host;rport=x",
        "SIP/2.0/UDP ho st",
        "SIP/2.0/UDP host:70000",
    ):
        with pytest.raises(ParseError):
            parse_via(bad)


@pytest.mark.parametrize("value", [",", " , ", ",,"])
def test_a_via_header_of_commas_only_is_refused(value):
    """``Via: ,`` held no via-parm but parsed as an empty list: a request with it passed
    the mandatory-header check and the transaction layer's ``vias[0]`` raised IndexError
    out of the route (found by the live fuzzer). Now it is a 400 Bad Via header."""
    with pytest.raises(ParseError, match="Bad Via header"):
        parse_via_list(value)
    msg = parse_message(
        f"INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: {value}\r\nFrom: <sip:a@b>;tag=1\r\n"
        "To: <sip:1@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n".encode(),
        eager=False,
    )
    with pytest.raises(ParseError, match="Bad Via header"):
        msg.vias  # noqa: B018


def test_branch_generation_is_deterministic():
    b1 = make_branch("call-1", 5, "INVITE", secret=b"k")
    assert b1.startswith(MAGIC_COOKIE) and b1 == make_branch("call-1", 5, "INVITE", secret=b"k")
    assert b1 != make_branch("call-1", 5, "INVITE", secret=b"other")
    assert b1 != make_branch("call-1", 6, "INVITE", secret=b"k")
    assert make_branch("ab", "c") != make_branch("a", "bc")  # parts are length-prefixed


INV = (
    b"INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP a.example;branch={branch}\r\n"
    b"From: <sip:a@a.example>;tag=f1\r\nTo: <sip:bob@b.example>\r\nCall-ID: k1\r\n"
    b"CSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n"
)


def _req(method: str = "INVITE", branch: str = "z9hG4bKabc") -> bytes:
    return INV.replace(b"{branch}", branch.encode()).replace(b"INVITE", method.encode())


def test_stateless_branch_follows_the_invite():
    inv, cancel = parse_message(_req()), parse_message(_req("CANCEL"))
    assert stateless_branch(inv) == stateless_branch(cancel) == stateless_branch(inv)
    assert stateless_branch(inv) != stateless_branch(parse_message(_req(branch="z9hG4bKdef")))
    old_inv, old_cancel = parse_message(_req(branch="1")), parse_message(_req("CANCEL", "1"))
    assert not old_inv.top_via.is_rfc3261
    assert stateless_branch(old_inv) == stateless_branch(old_cancel)
    assert stateless_branch(old_inv).startswith(MAGIC_COOKIE)


def test_rfc2543_key():
    inv = parse_message(_req(branch="1"))
    key = rfc2543_key(inv)
    assert key == (
        "sip:bob@b.example",
        None,
        "f1",
        "k1",
        7,
        "INVITE",
        ("UDP", "a.example", None, "1"),
    )
    assert rfc2543_key(parse_message(_req("ACK", "1")), include_to_tag=False) == key


@pytest.mark.parametrize(
    ("text", "written"),
    [
        # the received text is kept and extended: a proxy changes only what it adds
        (
            "SIP/2.0/UDP h:5062;Branch=z9hG4bKa;RPort",
            "SIP/2.0/UDP h:5062;Branch=z9hG4bKa;RPort=4;received=10.0.0.1",
        ),
        # not plain: blanks, a lookalike name, a quoted value: written anew from the parts
        (
            "SIP/2.0/UDP h ; rport ; branch=z9hG4bKb",
            "SIP/2.0/UDP h;rport=4;branch=z9hG4bKb;received=10.0.0.1",
        ),
        ("SIP/2.0/UDP h;rportx=1;rport", "SIP/2.0/UDP h;rportx=1;rport=4;received=10.0.0.1"),
        ('SIP/2.0/UDP h;x="a;rport";rport', 'SIP/2.0/UDP h;x="a;rport";rport=4;received=10.0.0.1'),
        # a value that changes: written anew
        ("SIP/2.0/UDP h;rport=9;received=10.9.9.9", "SIP/2.0/UDP h;rport=4;received=10.0.0.1"),
    ],
)
def test_via_with_params_keeps_the_received_text_when_it_is_plain(text, written):
    w = parse_via(text).with_params(received="10.0.0.1", rport=4)
    assert str(w) == written
    assert parse_via(str(w)) == w and w.rport == 4 and w.received == "10.0.0.1"
