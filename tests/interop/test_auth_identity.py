"""Whose credentials may register an address: ``auth_check(..., 1)`` as auth_db 5.6 does it,
on a real Kamailio 5.6 and on ``kamtool serve`` (same reference cfg, same rows). For a
REGISTER the authentication user must be the To user and From must be To: a subscriber
who registers another user's address of record (third-party registration) with their
own password is refused, on both servers. (Kamailio challenges again, kamtool answers
403: the default route's answer to -8.)"""

from __future__ import annotations

import pytest

from tests.interop.conftest import TRANSPORTS
from tests.interop.wire import Msg, Peer, digest_answer

pytestmark = pytest.mark.parametrize("transport", TRANSPORTS)


def _register(peer: Peer, *, auth_user: str, from_user: str, to_user: str) -> Msg:
    """REGISTER To ``to_user`` From ``from_user``, answered with ``auth_user``'s password."""
    uri = f"sip:127.0.0.1:{peer.server[1]}"
    to = f"<sip:{to_user}@127.0.0.1>"
    call_id = f"tp-{auth_user}-{from_user}-{to_user}-{peer.port}@127.0.0.1"
    headers = [f"Contact: {peer.contact(auth_user)}", "Expires: 60"]
    first = peer.ask(peer.request("REGISTER", uri, from_user=from_user, to=to, headers=headers,
                                  call_id=call_id, cseq=1))  # fmt: skip
    assert first.status == 401, first.first
    auth = digest_answer(first.get("www-authenticate") or "", "REGISTER", uri, auth_user,
                         f"secret{auth_user}")  # fmt: skip
    return peer.ask(peer.request("REGISTER", uri, from_user=from_user, to=to, call_id=call_id,
                                 cseq=2, headers=[*headers, f"Authorization: {auth}"]))  # fmt: skip


def _refused(target, answer: Msg) -> bool:
    return answer.status == (401 if target.name == "kamailio" else 403)


def _bound(target, aor: str, peer: Peer) -> bool:
    """Whether ``ul.dump`` lists a binding of ``aor`` at this peer's port."""
    dump = target.rpc("ul.dump")
    for domain in dump.get("Domains", []):
        for record in domain.get("Domain", {}).get("AoRs", []):
            if record.get("Info", {}).get("AoR") == aor:
                return any(f":{peer.port}" in c["Contact"]["Address"]
                           for c in record["Info"].get("Contacts", []))  # fmt: skip
    return False


def test_own_password_cannot_register_another_users_aor(target, transport):
    with Peer(transport, target.sip_port) as peer:
        answer = _register(peer, auth_user="1001", from_user="1001", to_user="1003")
        assert _refused(target, answer), answer.first
        assert not _bound(target, "1003", peer)


def test_the_to_users_password_with_another_from_is_refused(target, transport):
    with Peer(transport, target.sip_port) as peer:
        answer = _register(peer, auth_user="1003", from_user="1001", to_user="1003")
        assert _refused(target, answer), answer.first
        assert not _bound(target, "1003", peer)


def test_own_registration_is_accepted(target, transport):
    with Peer(transport, target.sip_port) as peer:
        answer = _register(peer, auth_user="1003", from_user="1003", to_user="1003")
        assert answer.status == 200, answer.first
        assert _bound(target, "1003", peer)
