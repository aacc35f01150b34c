"""KSR.dialog inside a tracked call, on a real Kamailio 5.6 (tests/support/kamailio-kemi-api.cfg)
and on ``kamtool serve --route`` (tests/ksr/scripts/dialog_call.py): an in-dialog request
finds the dialog by its Route, sees its profile, sets a dialog variable the next request
reads, and ``dlg_bye("callee")`` makes the proxy send the callee a BYE in that dialog."""

from __future__ import annotations

import pytest

from tests.interop.wire import Msg, Peer
from tests.ksr.api_probe import API_CFG, PROXY_TOML
from tests.ksr.conftest import SCRIPTS, TARGETS
from tests.support.kemi import kemi_server
from tests.support.ports import low_free_port


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"dlg-{request.param}")
    kw = {"config": API_CFG} if request.param == "kamailio" else {"proxy_toml": PROXY_TOML}
    with kemi_server(request.param, base, SCRIPTS / "dialog_call.py",
                     sip_port=low_free_port(), **kw) as t:  # fmt: skip
        yield t


def _in_dialog(method: str, uri: str, route: str, to: str, call_id: str, peer: Peer,
               cseq: int, extra: list[str]) -> bytes:  # fmt: skip
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK-dlg-{peer.port}-{cseq};rport",
        f"Route: {route}", "From: <sip:1001@127.0.0.1>;tag=ib1", f"To: {to}",
        f"Call-ID: {call_id}", f"CSeq: {cseq} {method}", "Max-Forwards: 70", *extra,
        "Content-Length: 0",
    ]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_dlg_bye_ends_the_call_towards_the_callee(target):
    port = target.sip_port
    with Peer("udp", port) as caller, Peer("udp", port) as callee:
        call_id = f"dlg-{caller.port}@127.0.0.1"
        caller.send(caller.request(
            "INVITE", f"sip:callee@127.0.0.1:{port}", call_id=call_id,
            headers=[f"X-Relay: sip:127.0.0.1:{callee.port}", f"Contact: {caller.contact('1001')}"],
        ))  # fmt: skip
        invite = callee.recv()
        assert invite.get("x-init-rc") == "1,1"
        rr = invite.get("record-route")
        callee.send(_reply_with_contact(invite, callee))
        assert caller.final().status == 200
        to = invite.get("to") + ";tag=uas1"
        uri = f"sip:callee@127.0.0.1:{callee.port}"
        caller.send(_in_dialog("ACK", uri, rr, to, call_id, caller, 1, []))
        assert callee.recv().method == "ACK"

        caller.send(_in_dialog("INFO", uri, rr, to, call_id, caller, 2, []))
        info = callee.recv()
        assert info.method == "INFO" and info.get("x-rc") == "1,-1,1,1"
        callee.reply_to(info, 200, "OK")
        assert caller.final().status == 200

        caller.send(_in_dialog("INFO", uri, rr, to, call_id, caller, 3, ["X-Bye: callee"]))
        done = caller.final()
        assert (done.status, done.reason) == (200, "Rc v,f,1")  # "first": from the INVITE
        bye = callee.recv()
        assert bye.method == "BYE" and bye.get("call-id") == call_id
        assert bye.get("from").endswith(";tag=ib1") and bye.get("to").endswith(";tag=uas1")
        callee.reply_to(bye, 200, "OK")


def _reply_with_contact(invite: Msg, callee: Peer) -> bytes:
    """The callee's 200 with its Contact (where the proxy's BYE goes) and the
    Record-Route copied back."""
    lines = ["SIP/2.0 200 OK"]
    for name, value in invite.headers:
        if name in ("via", "from", "call-id", "cseq", "record-route"):
            lines.append(f"{name.title()}: {value}")
        elif name == "to":
            lines.append(f"To: {value};tag=uas1")
    lines += [f"Contact: {callee.contact('callee')}", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
