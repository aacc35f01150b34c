"""uac_replace_from() in a whole call, on a real Kamailio 5.6 (uac restore_mode "auto",
tests/support/kamailio-kemi-uac.cfg) and on ``kamtool serve --route``
(tests/ksr/scripts/uac_call.py): the callee sees the new From, the caller its own From in
the replies; inside the dialog each side's requests and replies carry the URI that side
knows (the original kept, coded, in our Record-Route's ``vsf``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.wire import Peer
from tests.ksr.conftest import SCRIPTS, TARGETS
from tests.support.kemi import kemi_server
from tests.support.ports import low_free_port

UAC_CFG = Path(__file__).resolve().parents[1] / "support" / "kamailio-kemi-uac.cfg"
NEW_FROM = "New Name <sip:newfrom@example.net>"


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"uac-{request.param}")
    kw = ({"config": UAC_CFG} if request.param == "kamailio"
          else {"proxy_toml": 'uac_restore_mode = "auto"\nrr_append_fromtag = true'})  # fmt: skip
    with kemi_server(request.param, base, SCRIPTS / "uac_call.py",
                     sip_port=low_free_port(), **kw) as t:  # fmt: skip
        yield t


def _in_dialog(method: str, uri: str, route: str, from_: str, to: str, call_id: str,
               peer: Peer, cseq: int) -> bytes:  # fmt: skip
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK-uac-{peer.port}-{cseq};rport",
        f"Route: {route}", f"From: {from_}", f"To: {to}", f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}", "Max-Forwards: 70", "Content-Length: 0",
    ]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_call_with_the_from_replaced(target):
    port = target.sip_port
    with Peer("udp", port) as caller, Peer("udp", port) as callee:
        call_id = f"uac-{caller.port}@127.0.0.1"
        caller.send(caller.request(
            "INVITE", f"sip:callee@127.0.0.1:{port}", call_id=call_id,
            headers=[f"X-Relay: sip:127.0.0.1:{callee.port}", f"Contact: {caller.contact('1001')}"],
        ))  # fmt: skip
        invite = callee.recv()
        # the callee sees the new From (display name and URI), the caller's tag kept
        assert invite.get("from") == f"{NEW_FROM};tag=ib1"
        # a second replace is refused; restore finds no Route; $fu still reads the received
        assert invite.get("x-rc") == "1,-1,-1"
        assert invite.get("x-fu") == "sip:1001@127.0.0.1"
        rr = invite.get("record-route")
        # uac's coding of the two URIs (XOR, base64 with - for =): Kamailio's value
        assert ";vsf=AAAAAF9VR1cyXl93S0hPXV5dZS5uZXQ-" in rr and ";ftag=ib1" in rr
        callee.reply_to(invite, 180, "Ringing")
        assert caller.recv().get("from") == "<sip:1001@127.0.0.1>;tag=ib1"
        callee.reply_to(invite, 200, "OK")
        ok = caller.final()
        assert ok.status == 200 and ok.get("from") == "<sip:1001@127.0.0.1>;tag=ib1"
        to = invite.get("to") + ";tag=uas1"

        # the caller's request in the dialog: From swapped to the new URI for the callee;
        # uac_replace_from_uri() is refused in a request with a To tag (auto mode)
        caller.send(_in_dialog("INFO", f"sip:callee@127.0.0.1:{callee.port}", rr,
                               "<sip:1001@127.0.0.1>;tag=ib1", to, call_id, caller, 2))  # fmt: skip
        info = callee.recv()
        assert info.method == "INFO" and info.get("x-rc") == "-1"
        assert info.get("from") == "<sip:newfrom@example.net>;tag=ib1"
        callee.reply_to(info, 200, "OK")
        assert caller.final().get("from") == "<sip:1001@127.0.0.1>;tag=ib1"

        # the callee's BYE: its To (the new From) goes to the caller with the original URI,
        # and the caller's 200 goes back to the callee with the To it sent
        callee.send(_in_dialog("BYE", f"sip:1001@127.0.0.1:{caller.port}", rr, to,
                               f"{NEW_FROM};tag=ib1", call_id, callee, 1))  # fmt: skip
        bye = caller.recv()
        assert bye.method == "BYE" and bye.get("to") == "New Name <sip:1001@127.0.0.1>;tag=ib1"
        caller.reply_to(bye, 200, "OK")
        done = callee.final()
        assert done.status == 200 and done.get("to") == f"{NEW_FROM};tag=ib1"
