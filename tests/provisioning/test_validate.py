"""User names, HA1 values and the input checks, without a database."""

from __future__ import annotations

import pytest

from kamtool.core import validate
from kamtool.core.users import User, credential_columns, parse_user
from kamtool.errors import BadInput


@pytest.mark.parametrize(
    "spec, user",
    [
        ("1001", User("1001", "127.0.0.1")),
        ("1001@example.com", User("1001", "example.com")),
        ("sip:1001@example.com", User("1001", "example.com")),
        ("SIPS:alice.b@example.com", User("alice.b", "example.com")),
        ("1001@[2001:db8::1]", User("1001", "[2001:db8::1]")),
    ],
)
def test_parse_user(spec, user):
    assert parse_user(spec, "127.0.0.1") == user


@pytest.mark.parametrize("spec", ["", "@x.org", "a@b@c", "sip:", "a b", "x@bad_dom ain", "x@-x."])
def test_parse_user_rejects(spec):
    with pytest.raises(BadInput):
        parse_user(spec, "127.0.0.1")


def test_no_domain_message_is_kamctls():
    with pytest.raises(BadInput) as err:
        parse_user("1001", None)
    assert err.value.message == (
        "domain unknown: use usernames with domain or set default domain in SIP_DOMAIN"
    )
    assert "--domain" in err.value.hint


def test_credentials_match_kamctl_and_hide_the_password_when_asked():
    u = User("1001", "127.0.0.1")
    assert credential_columns(u, "secret1001", store_plaintext=True) == {
        "password": "secret1001",
        "ha1": "1c13f0eb55501935b8c882b618f78401",
        "ha1b": "04a5b32d222c1ed7fc5a2662ac14f049",
    }
    assert credential_columns(u, "secret1001", store_plaintext=False)["password"] == ""
    # A long password is fine when only the hashes are stored.
    assert credential_columns(u, "p" * 100, store_plaintext=False)["password"] == ""
    with pytest.raises(BadInput) as err:
        credential_columns(u, "p" * 100, store_plaintext=True)
    assert "p" * 10 not in err.value.message


@pytest.mark.parametrize(
    "uri",
    ["sip:127.0.0.1", "sip:gw.example.com:5060;transport=tcp", "sips:u@h", "sip:[::1]:5062"],
)
def test_sip_uri_ok(uri):
    assert validate.sip_uri(uri) == uri


@pytest.mark.parametrize(
    "uri", ["sip:[::1", "sip:[zz::1]", "sip:h:0x", "sip:h:1:2", "http://h", "sip:h;x\x7f"]
)
def test_sip_uri_bad(uri):
    with pytest.raises(BadInput):
        validate.sip_uri(uri)


def test_integer_limits():
    assert validate.port("65535") == 65535
    assert validate.group_id(0) == 0
    for bad in ("65536", "-1", "1.5", "", "0x10"):
        with pytest.raises(BadInput):
            validate.port(bad)
    with pytest.raises(BadInput):
        validate.group_id(2**31)
    ip = validate.ip_address("10.0.0.1")
    assert validate.mask(None, ip) == 32
    assert validate.mask(None, validate.ip_address("[::1]")) == 128
