"""The proxy's digest check against subscriber rows, as Kamailio's auth_db does it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kamtool.proxy.auth import Authenticator
from kamtool.sip.digest import answer_challenge, ha1, ha1b, parse_challenge

ROWS = {
    ("1001", "127.0.0.1"): SimpleNamespace(
        password="secret1001",
        ha1=ha1("1001", "127.0.0.1", "secret1001"),
        ha1b=ha1b("1001", "127.0.0.1", "secret1001"),
    )
}


def auth(calculate_ha1=True, now=1000.0):
    clock = [now]
    a = Authenticator(
        None,
        calculate_ha1=calculate_ha1,
        nonce_expire=300,
        secret=b"s" * 32,
        clock=lambda: clock[0],
        lookup=lambda u, d: ROWS.get((u, d)),
    )
    return a, clock


def creds(a, username, password="secret1001", method="INVITE"):
    ch = parse_challenge(a.new_challenge("127.0.0.1"))
    return answer_challenge(
        ch, method=method, uri="sip:1002@127.0.0.1", username=username, password=password,
        cnonce="0a4f113b",
    ).to_header()


def check(a, header, from_user="1001", method="INVITE"):
    return a.check(method, [header], realm="127.0.0.1", from_user=from_user, challenge_status=407)


@pytest.mark.parametrize(
    "calculate_ha1,username,status",
    [
        (True, "1001", 200),
        (True, "1001@127.0.0.1", 200),
        (True, "1001@", 200),  # sipsak: HA1 over the literal "1001@", as Kamailio
        (True, "1001@example.com", 407),  # no such subscriber
        (False, "1001", 200),  # stored ha1
        (False, "1001@127.0.0.1", 200),  # stored ha1b
        (False, "1001@", 407),  # ha1b differs from H("1001@":realm:pw): Kamailio says 401
    ],
)
def test_ha1_sources_as_kamailio(calculate_ha1, username, status):
    a, _ = auth(calculate_ha1)
    assert check(a, creds(a, username)).status == status


def test_wrong_password_is_challenged_again_and_other_user_is_403():
    a, _ = auth()
    out = check(a, creds(a, "1001", password="nope"))
    assert out.status == 407 and out.challenge.startswith('Digest realm="127.0.0.1", nonce="')
    out = check(a, creds(a, "1001"), from_user="1002")
    assert (out.status, out.user) == (403, "1001")


def test_expired_nonce_gets_stale_true():
    a, clock = auth()
    header = creds(a, "1001")
    clock[0] += 301
    out = check(a, header)
    assert out.status == 407 and "stale=true" in out.challenge


def test_credentials_for_another_realm_are_ignored():
    a, _ = auth()
    header = creds(a, "1001").replace('realm="127.0.0.1"', 'realm="other"')
    out = check(a, header)
    assert out.status == 407 and "stale" not in out.challenge
