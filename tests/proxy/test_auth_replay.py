"""Chaos: a captured digest ``Authorization`` replayed against ``kamtool serve`` (issue
#12, item 3), with the proxy's auth clock moved forward instead of sleeping.

Kamailio 5.6 with the reference cfg (``auth_challenge("$fd", "0")``, no ``nonce_count``,
no ``one_time_nonce``) accepts the same replay for the nonce's whole lifetime (300 s).
"""

from __future__ import annotations

from typing import Any

import pytest

from kamtool.sip.digest import answer_challenge, parse_challenge
from tests.proxy.harness import USERS, UdpClient

pytestmark = pytest.mark.chaos

CNONCE = "8c3f0a1b"


def _client(proxy: Any, source: str = "127.0.0.1") -> UdpClient:
    """A UdpClient sending from ``source`` (another loopback address is another host)."""
    return UdpClient(proxy.port, local=(source, 0))


def _register(client: UdpClient, proxy: Any, contact: str, authorization: str | None,
              call_id: str, cseq: int) -> Any:  # fmt: skip
    headers = [f"Contact: <{contact}>", "Expires: 600"]
    if authorization:
        headers.append(f"Authorization: {authorization}")
    return client.ask("REGISTER", f"sip:127.0.0.1:{proxy.port}", from_user="1001",
                      to="<sip:1001@127.0.0.1>", headers=headers, call_id=call_id,
                      cseq=cseq)  # fmt: skip


def _captured(client: UdpClient, proxy: Any, contact: str, call_id: str) -> str:
    """Register 1001 (challenge, answer, 200) and return the Authorization it sent."""
    first = _register(client, proxy, contact, None, call_id, 1)
    assert first.status == 401
    challenge = parse_challenge(first.headers.get("www-authenticate"))
    creds = answer_challenge(challenge, method="REGISTER", uri=f"sip:127.0.0.1:{proxy.port}",
                             username="1001", password=USERS["1001"],
                             cnonce=CNONCE)  # fmt: skip
    authorization = creds.to_header()
    ok = _register(client, proxy, contact, authorization, call_id, 2)
    assert ok.status == 200, ok.status
    return authorization


def _contacts(proxy: Any) -> set[str]:
    found = proxy.call(lambda: proxy.server.usrloc.lookup("1001"))
    return {str(b.contact) for b in found}


class _Clock:
    """The proxy's auth clock, moved by the test."""

    def __init__(self, proxy: Any) -> None:
        import time

        self.now = time.time()
        proxy.call(lambda: setattr(proxy.server.parts.auth, "clock", lambda: self.now))


@pytest.mark.parametrize("qop", [True, False], ids=["qop-auth", "no-qop"])
def test_captured_authorization_replayed_62s_later_is_refused(start_proxy, qop):
    proxy = start_proxy(auth_qop=qop)
    clock = _Clock(proxy)
    victim, attacker = _client(proxy), _client(proxy)
    try:
        auth = _captured(victim, proxy, f"sip:1001@127.0.0.1:{victim.port}", "victim-1@x")
        assert auth.endswith("qop=auth, nc=00000001") == qop
        # at once, the same Call-ID and a higher CSeq: refused
        again = _register(victim, proxy, f"sip:1001@127.0.0.1:{victim.port}", auth,
                          "victim-1@x", 3)  # fmt: skip
        assert again.status == 401
        # stale=true: the response was right, the nonce is used up (the phone retries)
        assert parse_challenge(again.headers.get("www-authenticate")).stale
        # 62 s later, new Call-ID, From tag, source port and Contact: refused
        clock.now += 62
        evil = "sip:evil@127.0.0.1:6666"
        replay = _register(attacker, proxy, evil, auth, "attacker-1@x", 1)
        assert replay.status == 401
        assert evil not in _contacts(proxy)
        assert _contacts(proxy) == {f"sip:1001@127.0.0.1:{victim.port}"}
    finally:
        victim.close()
        attacker.close()


def test_next_nonce_count_is_accepted_and_an_overtaken_one_once(start_proxy):
    # qop=auth clients (pjsip, baresip, SIPp) may reuse a nonce with nc 2, 3 ...
    proxy = start_proxy()
    client = _client(proxy)
    try:
        contact, uri = f"sip:1001@127.0.0.1:{client.port}", f"sip:127.0.0.1:{proxy.port}"
        first = _register(client, proxy, contact, None, "nc@x", 1)
        challenge = parse_challenge(first.headers.get("www-authenticate"))

        def answer(nc: int) -> str:
            return answer_challenge(challenge, method="REGISTER", uri=uri, username="1001",
                                    password=USERS["1001"], cnonce=CNONCE,
                                    nc=nc).to_header()  # fmt: skip

        assert _register(client, proxy, contact, answer(1), "nc@x", 2).status == 200
        assert _register(client, proxy, contact, answer(3), "nc@x", 3).status == 200
        assert _register(client, proxy, contact, answer(2), "nc@x", 4).status == 200
        for nc in (1, 2, 3):
            assert _register(client, proxy, contact, answer(nc), "nc@x", 5 + nc).status == 401
    finally:
        client.close()


def test_expired_nonce_with_a_right_answer_is_stale(start_proxy):
    proxy = start_proxy()
    clock = _Clock(proxy)
    client = _client(proxy)
    try:
        contact, uri = f"sip:1001@127.0.0.1:{client.port}", f"sip:127.0.0.1:{proxy.port}"
        first = _register(client, proxy, contact, None, "old@x", 1)
        challenge = parse_challenge(first.headers.get("www-authenticate"))
        creds = answer_challenge(challenge, method="REGISTER", uri=uri, username="1001",
                                 password=USERS["1001"], cnonce=CNONCE)  # fmt: skip
        clock.now += 301  # nonce_expire 300
        late = _register(client, proxy, contact, creds.to_header(), "old@x", 2)
        assert late.status == 401
        assert parse_challenge(late.headers.get("www-authenticate")).stale
        # a wrong password with an expired nonce is not stale (RFC 7616 §3.3)
        wrong = answer_challenge(challenge, method="REGISTER", uri=uri, username="1001",
                                 password="nope", cnonce=CNONCE)  # fmt: skip
        bad = _register(client, proxy, contact, wrong.to_header(), "old@x", 3)
        assert bad.status == 401
        assert not parse_challenge(bad.headers.get("www-authenticate")).stale
    finally:
        client.close()


def test_nonce_bound_to_the_source_address_is_useless_elsewhere(start_proxy):
    # auth_checks_register = 8: the nonce names the address it was given to; credentials
    # intercepted before they reach the proxy cannot be used from another host
    proxy = start_proxy(auth_checks_register=8)
    victim, attacker = _client(proxy), _client(proxy, "127.0.0.2")
    try:
        uri = f"sip:127.0.0.1:{proxy.port}"
        first = _register(victim, proxy, "sip:1001@127.0.0.1:5", None, "bound@x", 1)
        challenge = parse_challenge(first.headers.get("www-authenticate"))
        creds = answer_challenge(challenge, method="REGISTER", uri=uri, username="1001",
                                 password=USERS["1001"], cnonce=CNONCE).to_header()  # fmt: skip
        stolen = _register(attacker, proxy, "sip:evil@127.0.0.2:6", creds, "bound@x", 2)
        assert stolen.status == 401  # first use, but from 127.0.0.2
        assert parse_challenge(stolen.headers.get("www-authenticate")).stale
        assert _contacts(proxy) == set()
        # the victim, from the address the nonce was issued to, gets in
        assert _register(victim, proxy, "sip:1001@127.0.0.1:5", creds, "bound@x", 3).status == 200
    finally:
        victim.close()
        attacker.close()
