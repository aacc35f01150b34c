"""The KSR dispatcher glue reads a request as Kamailio does: the same raw requests (display
names, header parameters, credentials with a domain) sent to a real Kamailio 5.6 and parsed
by kamtool pick the same destination and failover list for every hash algorithm; the call
load follows INVITE, next_dst and BYE."""

from __future__ import annotations

import uuid

import pytest

from kamtool.proxy import ds_ksr
from kamtool.proxy.dispatcher import Dispatcher
from kamtool.sip.parser import parse_message
from tests.support.kamailio import kamailio_available
from tests.support.require import unavailable

pytestmark = pytest.mark.kamailio

ROWS = [(1, f"sip:127.0.0.1:{p}", 0, 0, f"duid=d{p};maxload=1") for p in range(5301, 5306)]
FROMS = [
    '"Alice Smith" <sip:alice@example.com>;tag={tag}',
    "<sip:bob@example.com:5070;transport=tcp>;tag={tag}",
    "sip:carol@example.org;tag={tag}",
    "Dave <sips:dave@example.net>;tag={tag}",
    '"x, y" <sip:+4930123@gw.example.com;user=phone>;tag={tag}',
]
AUTH = [
    'Proxy-Authorization: Digest username="alice@example.com", realm="r", nonce="n", '
    'uri="sip:x", response="0"',
    'Authorization: Digest username="sip:bob@example.com", realm="r", nonce="n", '
    'uri="sip:x", response="0"',
    "",
]


def request_text(
    lport: int, method: str, from_value: str, to_value: str, ruri: str, extra: str,
    branch: str, call_id: str, headers: dict[str, str],
) -> str:  # fmt: skip
    return (
        f"{method} {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{branch};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: {from_value}\r\nTo: {to_value}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
        + (extra + "\r\n" if extra else "")
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "Content-Length: 0\r\n\r\n"
    )


@pytest.fixture(scope="module")
def kam(tmp_path_factory):
    if not kamailio_available():
        unavailable("kamailio 5.6 is not installed (scripts/test installs it)")
    from tests.support.kamailio_dispatcher import DispatcherKamailio

    with DispatcherKamailio(tmp_path_factory.mktemp("glue"), ROWS) as k:
        yield k


def ours_dispatcher() -> Dispatcher:
    ds = Dispatcher(load=False)
    ds.replace([(*row, "") for row in ROWS])
    return ds


def both(kam, ds, alg: int, method: str, from_value: str, to_value: str, ruri: str,
         extra: str = "", call_id: str | None = None):  # fmt: skip
    branch, call_id = uuid.uuid4().hex[:16], call_id or uuid.uuid4().hex
    headers = {"X-Ds-Set": "1", "X-Ds-Alg": str(alg)}
    text = request_text(kam.sock.getsockname()[1], method, from_value, to_value, ruri, extra,
                        branch, call_id, headers)  # fmt: skip
    code, reason, fields = kam.send_text(text, branch)
    theirs = (code, reason if code == 200 else None, fields.get("x-failover", "").split())
    sel = ds_ksr.select_dst(ds, parse_message(text.encode()), 1, alg)
    ours = (200, sel.dest.uri, [d.uri for d in sel.failover]) if sel else (404, None, [])
    return theirs, ours, call_id


@pytest.mark.parametrize("alg", [0, 1, 2, 3, 5])
def test_hash_algorithms_read_the_request_as_kamailio(kam, alg):
    ds = ours_dispatcher()
    n = 0
    for from_template in FROMS:
        for auth in AUTH:
            n += 1
            tag = f"t{n}"
            from_value = from_template.format(tag=tag)
            to_value = from_template.format(tag="x").rsplit(";tag=", 1)[0]
            ruri = f"sip:user{n}@h{n}.example.com:50{60 + n}"
            theirs, ours, _ = both(kam, ds, alg, "OPTIONS", from_value, to_value, ruri, auth)
            assert theirs == ours, (alg, from_value, auth)


def test_call_load_through_invite_next_and_bye(kam):
    ds = ours_dispatcher()
    to_value, ruri = "<sip:900@127.0.0.1>", "sip:900@127.0.0.1"
    from_value = "<sip:alice@example.com>;tag=a"
    results = [both(kam, ds, 10, "INVITE", from_value, to_value, ruri, call_id=f"load-{n}")
               for n in range(3)]  # fmt: skip
    assert all(theirs == ours for theirs, ours, _ in results)
    assert len({ours[1] for _, ours, _ in results}) == 3  # maxload 1: each elsewhere
    for n in range(3):
        bye = request_text(kam.sock.getsockname()[1], "BYE", from_value, to_value, ruri, "",
                           f"bye{n}", f"load-{n}", {"X-Ds-Set": "1"})  # fmt: skip
        assert kam.send_text(bye, f"bye{n}")[0] == 200
        ds_ksr.load_update(ds, parse_message(bye.encode()))
    assert sum(d.dload for d in ds.engine.destinations()) == 0
    loads = [t["DEST"]["RUNTIME"]["DLGLOAD"]
             for t in kam.rpc("dispatcher.list")["RECORDS"][0]["SET"]["TARGETS"]]  # fmt: skip
    assert loads == [0] * 5
    # the failover walk moves the load, and marking takes the record in use
    invite = request_text(5060, "INVITE", from_value, to_value, ruri, "", "b", "walk", {})
    sel = ds_ksr.select_dst(ds, parse_message(invite.encode()), 1, 10)
    first = sel.dest
    second = ds_ksr.next_dst(ds, sel)
    assert (first.dload, second.dload) == (0, 1)
    assert ds_ksr.mark_dst(ds, sel, "ip") and not second.usable
    assert ds_ksr.load_unset(ds, parse_message(request_text(
        5060, "BYE", from_value, to_value, ruri, "", "c", "walk", {}).encode()))  # fmt: skip
    assert ds_ksr.list_exists(ds, 1) and not ds_ksr.list_exists(ds, 2)
    assert ds_ksr.is_from_list(ds, ("127.0.0.1", 5303)) == 1
    assert ds_ksr.is_from_list(ds, ("127.0.0.1", 5399)) is None
