"""auth's ``pv_auth_check`` (scripts/pv_auth.py: the password in the script, plain or as
HA1) on a real Kamailio 5.6 and on ``kamtool serve --route``: the right password passes,
a wrong one is -2, a registration of another user's address is -8 unless the script
does not ask for the identity check."""

from __future__ import annotations

import pytest

from tests.interop.wire import Msg, Peer, digest_answer
from tests.ksr.conftest import SCRIPTS, TARGETS
from tests.support.kemi import kemi_server
from tests.support.ports import low_free_port


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"pvauth-{request.param}")
    with kemi_server(request.param, base, SCRIPTS / "pv_auth.py",
                     sip_port=low_free_port()) as t:  # fmt: skip
        yield t


def _register(target, *, mode: str, password: str, from_user: str = "1001",
              to_user: str = "1001") -> Msg:  # fmt: skip
    uri = f"sip:127.0.0.1:{target.sip_port}"
    with Peer("udp", target.sip_port) as ua:
        headers = [f"X-Mode: {mode}", f"Contact: {ua.contact(from_user)}"]
        first = ua.ask(ua.request("REGISTER", uri, from_user=from_user,
                                  to=f"<sip:{to_user}@127.0.0.1>", headers=headers))  # fmt: skip
        assert first.status == 401 and first.get("www-authenticate"), first.first
        auth = digest_answer(first.get("www-authenticate") or "", "REGISTER", uri, from_user,
                             password)  # fmt: skip
        return ua.ask(ua.request("REGISTER", uri, from_user=from_user, cseq=2,
                                 to=f"<sip:{to_user}@127.0.0.1>",
                                 headers=[*headers, f"Authorization: {auth}"]))  # fmt: skip


@pytest.mark.parametrize("mode", ["plain", "ha1"])
def test_the_scripts_password_passes(target, mode):
    ok = _register(target, mode=mode, password="secret1001")
    assert (ok.status, ok.reason) == (200, "Auth 1")


def test_a_wrong_password_is_challenged_again(target):
    again = _register(target, mode="plain", password="guess")
    assert again.status == 401 and again.get("www-authenticate")


def test_another_users_address_is_refused_unless_unchecked(target):
    refused = _register(target, mode="plain", password="secret1001", to_user="1003")
    assert (refused.status, refused.reason) == (403, "Auth -8")
    unchecked = _register(target, mode="nocheck", password="secret1001", to_user="1003")
    assert (unchecked.status, unchecked.reason) == (200, "Auth 1")
