"""kamtool.sip.nat: private ranges, nat_uac_test flags, received URIs and aliases."""

from __future__ import annotations

import pytest

from kamtool.sip.errors import ParseError
from kamtool.sip.nat import is_private, make_alias, nat_uac_test, parse_alias, received_uri


@pytest.mark.parametrize(
    "host,private",
    [
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("172.31.255.255", True),
        ("172.32.0.1", False),
        ("192.168.1.1", True),
        ("100.64.0.1", True),  # RFC 6598 carrier-grade NAT
        ("100.128.0.1", False),
        ("127.0.0.1", False),
        ("8.8.8.8", False),
        ("fd00::1", True),
        ("2001:db8::1", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_private(host, private):
    assert is_private(host) is private


SRC = ("203.0.113.5", 40312)


@pytest.mark.parametrize(
    "flags,via,contacts,nated",
    [
        (1, ("203.0.113.5", 40312), [("192.168.1.2", 5060)], True),
        (1, ("203.0.113.5", 40312), [("203.0.113.5", 40312)], False),
        (2, ("192.168.1.2", 40312), [], True),  # Via host is not the source
        (2, ("203.0.113.5", 5060), [], False),
        (16, ("203.0.113.5", None), [], True),  # no port = 5060, source 40312
        (16, ("203.0.113.5", 40312), [], False),
        (4, ("10.0.0.1", 40312), [], True),
        (32, ("203.0.113.5", 40312), [], False),
        (128, ("203.0.113.5", 40312), [("203.0.113.5", None)], True),
        (19, ("203.0.113.5", 40312), [("203.0.113.5", 40312)], False),
        (19, ("203.0.113.5", 5060), [("203.0.113.5", 40312)], True),
    ],
)
def test_nat_uac_test_flags(flags, via, contacts, nated):
    got = nat_uac_test(flags, source=SRC, via_host=via[0], via_port=via[1], contacts=contacts)
    assert got is nated


def test_received_uri_names_the_transport_except_udp():
    assert received_uri("udp", "203.0.113.5", 40312) == "sip:203.0.113.5:40312"
    assert received_uri("tcp", "203.0.113.5", 1) == "sip:203.0.113.5:1;transport=tcp"
    assert received_uri("tls", "2001:db8::1", 5061) == "sip:[2001:db8::1]:5061;transport=tls"


def test_alias_round_trip_and_errors():
    assert make_alias("udp", "203.0.113.5", 40312) == "203.0.113.5~40312~1"
    assert parse_alias(make_alias("tls", "2001:db8::1", 5061)) == ("tls", "2001:db8::1", 5061)
    assert parse_alias("198.51.100.1~5060~2") == ("tcp", "198.51.100.1", 5060)
    for bad in ("", "1.2.3.4~5060", "host~5060~1", "1.2.3.4~0~1", "1.2.3.4~5060~9", None):
        with pytest.raises(ParseError):
            parse_alias(bad)
