"""SIP Outbound (RFC 5626) and Path (RFC 3327) through the default route (issue #18):
UAs that live on one TCP connection or WebSocket register with ``+sip.instance`` and
``reg-id``, directly or through a second kamtool acting as edge proxy; calls reach them
over that connection; a closed flow gives 430 Flow Failed, a forged flow token 403."""

from __future__ import annotations

import time

import pytest

from kamtool.proxy.config import Listen
from tests.edge.flow_ua import INSTANCE, FlowUA
from tests.proxy.conftest import proxy_db, start_proxy  # noqa: F401 (fixtures)
from tests.proxy.harness import UdpClient
from tests.support.ports import free_port

OTHER = "<urn:uuid:00000000-0000-1000-8000-0000000000b0>"


def invite(caller: UdpClient, user: str = "1001", headers: list[str] | None = None) -> bytes:
    return caller.request("INVITE", f"sip:{user}@127.0.0.1", from_user="1002",
                          headers=["Contact: <sip:1002@127.0.0.1>", *(headers or [])])  # fmt: skip


def final(caller: UdpClient) -> object:
    while True:
        resp = caller.recv()
        if resp.status >= 200:
            return resp


def wait_closed(proxy, ua: FlowUA) -> None:
    """Until the proxy has seen the UA's connection go (the close is asynchronous)."""
    ua.close()
    deadline = time.monotonic() + 5
    while proxy.call(lambda: proxy.server.parts.transports.alive(ua.local)):
        assert time.monotonic() < deadline, "the proxy never saw the connection close"
        time.sleep(0.05)


def bye_for(caller: UdpClient, ok) -> bytes:
    """The caller's BYE in the dialog ``ok`` (a 2xx) set up: its route set and target."""
    lines = [
        f"BYE {ok.headers.get('contact').strip('<>')} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{caller.port};branch=z9hG4bK-bye-{caller.port};rport",
        *(f"Route: {rr}" for rr in reversed(ok.headers.get_all("record-route"))),
        f"From: {ok.headers.get('from')}",
        f"To: {ok.headers.get('to')}",
        f"Call-ID: {ok.call_id}",
        "CSeq: 2 BYE",
        "Max-Forwards: 70",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def bindings(proxy, aor: str = "1001") -> list:
    return proxy.call(lambda: proxy.server.usrloc.lookup(aor))


@pytest.fixture
def registrar(start_proxy):  # noqa: F811
    return start_proxy(auth=False)


@pytest.fixture
def caller(registrar):
    c = UdpClient(registrar.port)
    yield c
    c.close()


def test_tcp_flow_registers_gets_its_calls_and_a_dead_flow_gives_430(registrar, caller):
    ua = FlowUA("tcp", registrar.port)
    resp = ua.register()
    assert resp.status == 200
    assert resp.headers.get_all("require") == ["outbound"]
    assert resp.headers.get_all("supported") == ["outbound"]
    (contact,) = resp.headers.get_all("contact")
    assert f';+sip.instance="{INSTANCE}";reg-id=1' in contact
    (b,) = bindings(registrar)
    # usrloc's columns as Kamailio fills them: the instance without quotes, the flow
    assert (b.instance, b.reg_id, b.path) == (INSTANCE, 1, None)
    assert b.socket == f"tcp:127.0.0.1:{registrar.port}"
    assert b.received == f"sip:127.0.0.1:{ua.local[1]};transport=tcp"
    caller.send_raw(invite(caller))
    inv = ua.recv()  # over the UA's own connection: nothing else reaches ua.invalid
    assert inv.method == "INVITE" and inv.uri_text.startswith("sip:1001@ua.invalid")
    ua.answer(inv)
    assert final(caller).status == 200
    wait_closed(registrar, ua)
    caller.send_raw(invite(caller))
    resp = final(caller)
    assert (resp.status, resp.reason) == (430, "Flow Failed")


def test_one_flow_per_instance_the_newest_first(registrar, caller):
    old = FlowUA("tcp", registrar.port, reg_id=1, call_id="two-flows@ua.invalid")
    new = FlowUA("tcp", registrar.port, reg_id=2, call_id="two-flows@ua.invalid")
    assert old.register().status == 200
    new.cseq = old.cseq  # one UA, one Call-ID: its CSeq goes on over the second flow
    time.sleep(0.01)  # a later registration (last_modified)
    assert new.register().status == 200
    assert sorted(b.reg_id for b in bindings(registrar)) == [1, 2]
    caller.send_raw(invite(caller))
    new.answer(new.recv())  # one branch only: the newest flow of the instance
    assert final(caller).status == 200
    with pytest.raises(TimeoutError):
        old.sock.settimeout(0.5)
        old.recv()
    wait_closed(registrar, new)  # RFC 5626 6: the other flow of the instance takes over
    caller.send_raw(invite(caller))
    old.sock.settimeout(5)
    old.answer(old.recv())
    assert final(caller).status == 200
    old.close()


def test_registrar_outbound_and_path_refusals(start_proxy):  # noqa: F811
    strict = start_proxy(auth=False, outbound_mode=2)
    ua = FlowUA("tcp", strict.port)
    resp = ua.register(supported="path")  # outbound required, the UA lacks it: 421
    assert (resp.status, resp.reason) == (421, "Extension Required")
    assert resp.headers.get("require") == "outbound"
    ua.close()
    proxy = start_proxy(auth=False)
    ua = FlowUA("tcp", proxy.port)
    # relayed by a proxy that added no ;ob Path while the UA asks for outbound: 439
    resp = ua.register(edge=True)
    assert (resp.status, resp.reason) == (439, "First Hop Lacks Outbound Support")
    # a Path the UA does not support (path_mode 2, RFC 3327 5.3): 420, nothing stored
    resp = ua.register(extra=("Path: <sip:127.0.0.1:5999;lr>",), supported="outbound")
    assert (resp.status, resp.reason) == (420, "Bad Extension")
    assert resp.headers.get("unsupported") == "path"
    assert bindings(proxy) == []
    # an edge that did add ;ob: stored with the Path and the reg-id, Path echoed
    path = "<sip:tok@127.0.0.1:5999;transport=tcp;lr;ob>"
    resp = ua.register(edge=True, extra=(f"Path: {path}",))
    assert resp.status == 200 and resp.headers.get("path") == path
    (b,) = bindings(proxy)
    assert (b.path, b.reg_id, b.received) == (path, 1, None)
    # without outbound (regid_mode 0) a relayed reg-id is not kept
    other = FlowUA("tcp", proxy.port, user="1003", instance=OTHER)
    resp = other.register(edge=True, supported="path", extra=("Path: <sip:127.0.0.1:5999;lr>",))
    assert resp.status == 200 and "require" not in resp.headers
    (b,) = bindings(proxy, "1003")
    assert (b.instance, b.reg_id) == (OTHER, 0)
    ua.close()
    other.close()


def test_flow_timer_and_outbound_off(start_proxy):  # noqa: F811
    timed = start_proxy(auth=False, flow_timer=25)
    ua = FlowUA("tcp", timed.port)
    resp = ua.register()
    assert resp.headers.get("flow-timer") == "25" and resp.headers.get("require") == "outbound"
    ua.close()
    off = start_proxy(auth=False, outbound_mode=0)  # Kamailio's default
    ua = FlowUA("tcp", off.port)
    resp = ua.register()
    assert resp.status == 200 and "require" not in resp.headers and "supported" not in resp.headers
    resp = ua.register(extra=("Require: outbound",))
    assert (resp.status, resp.headers.get("unsupported")) == (420, "outbound")
    ua.close()


# ------------------------------------------------------------------ through an edge proxy


@pytest.fixture
def edge(start_proxy, registrar):  # noqa: F811
    """A second kamtool in front of the registrar: UDP/TCP and a ws: listener."""
    port, ws = free_port(), free_port()
    proxy = start_proxy(
        port=port,
        auth=False,
        listen=(Listen("udp", "127.0.0.1", port), Listen("tcp", "127.0.0.1", port),
                Listen("ws", "127.0.0.1", ws)),
        edge_registrar=f"sip:127.0.0.1:{registrar.port};transport=tcp",
    )  # fmt: skip
    proxy.ws_port = ws
    return proxy


def test_ws_flow_through_an_edge_proxy(edge, registrar, caller):
    ua = FlowUA("ws", edge.ws_port)
    resp = ua.register()
    assert resp.status == 200 and resp.headers.get_all("require") == ["outbound"]
    (path,) = resp.headers.get_all("path")  # the edge's Path: a flow token and ;ob
    assert path.startswith("<sip:") and "@127.0.0.1:" in path and path.endswith(";ob>")
    assert f"received=sip:127.0.0.1:{ua.local[1]}%3Btransport%3Dws" in path
    (b,) = bindings(registrar)
    assert (b.path, b.instance, b.reg_id, b.received) == (path, INSTANCE, 1, None)
    assert b.socket == f"tcp:127.0.0.1:{registrar.port}"
    # a call: registrar -> Path -> edge -> the browser's WebSocket
    caller.send_raw(invite(caller))
    inv = ua.recv()
    assert inv.method == "INVITE" and inv.uri_text.startswith("sip:1001@ua.invalid")
    rrs = inv.headers.get_all("record-route")
    assert any(";ob" in rr and "@" in rr for rr in rrs), rrs  # the edge's flow token
    ua.answer(inv)
    ok = final(caller)
    assert ok.status == 200
    # the caller's BYE follows the route set to the edge, and over the flow
    caller.send_raw(bye_for(caller, ok))
    got = ua.recv()
    assert got.method == "BYE"
    ua.answer(got)
    assert final(caller).status == 200
    wait_closed(edge, ua)
    caller.send_raw(invite(caller))
    resp = final(caller)  # the edge answered 430, the registrar relays it
    assert (resp.status, resp.reason) == (430, "Flow Failed")


def test_a_430_from_the_edge_moves_the_call_to_the_other_flow(edge, registrar, caller):
    """Two flows of one instance through the edge (reg-id 1 and 2); the newer one closes
    without the registrar knowing: the edge's 430 makes it try the older (RFC 5626 7)."""
    call_id = "two-ws-flows@ua.invalid"
    old = FlowUA("ws", edge.ws_port, reg_id=1, call_id=call_id)
    new = FlowUA("ws", edge.ws_port, reg_id=2, call_id=call_id)
    try:
        assert old.register().status == 200
        time.sleep(0.01)
        new.cseq = old.cseq
        assert new.register().status == 200
        assert sorted(b.reg_id for b in bindings(registrar)) == [1, 2]
        wait_closed(edge, new)
        caller.send_raw(invite(caller))
        inv = old.recv()
        assert inv.method == "INVITE"
        old.answer(inv)
        assert final(caller).status == 200
        assert registrar.stat("core:rcv_replies_4xx") >= 1  # the edge's 430 came first
    finally:
        old.close()
        new.close()


def test_the_browser_calls_a_phone_and_the_phone_hangs_up_over_the_flow(edge, registrar):
    """An INVITE from the WebSocket UA (Contact ;ob) through the edge is record-routed with
    its flow token, so the phone's BYE later comes back over the WebSocket."""
    ua = FlowUA("ws", edge.ws_port)
    phone = UdpClient(registrar.port)
    try:
        assert phone.register("1003", "", [f"<sip:1003@127.0.0.1:{phone.port}>"]).status == 200
        contact = "Contact: <sip:1001@ua.invalid;transport=ws;ob>"
        ua.send_request("INVITE", "sip:1003@127.0.0.1", [contact], to="<sip:1003@127.0.0.1>")
        while (inv := phone.recv()).method != "INVITE":
            pass
        rrs = inv.headers.get_all("record-route")
        assert len(rrs) >= 2 and ";ob>" in rrs[-1] and "@" in rrs[-1], rrs  # the edge's
        phone.send_raw(answer_for(inv, phone))
        ok = ua.recv_final()
        assert ok.status == 200 and ok.call_id == ua.call_id
        phone.send_raw(phone_bye(inv, phone))  # the phone's route set: the Record-Routes
        bye = ua.recv()
        assert bye.method == "BYE" and bye.call_id == ua.call_id
    finally:
        ua.close()
        phone.close()


def answer_for(inv, phone: UdpClient) -> bytes:
    lines = ["SIP/2.0 200 OK"]
    for name in ("via", "record-route", "from", "call-id", "cseq"):
        lines += [f"{name}: {v}" for v in inv.headers.get_lines(name)]
    lines += [f"To: {inv.headers.get('to')};tag=ph1", f"Contact: <sip:1003@127.0.0.1:{phone.port}>",
              "Content-Length: 0"]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def phone_bye(inv, phone: UdpClient) -> bytes:
    lines = [
        f"BYE {inv.headers.get('contact').strip('<>')} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bK-phbye;rport",
        *(f"Route: {rr}" for rr in inv.headers.get_all("record-route")),
        f"From: {inv.headers.get('to')};tag=ph1",
        f"To: {inv.headers.get('from')}",
        f"Call-ID: {inv.call_id}",
        "CSeq: 1 BYE",
        "Max-Forwards: 70",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_udp_phone_without_outbound_through_the_edge(edge, registrar, caller):
    """No outbound, no Path support announced: the edge adds Path with received= (and
    says Supported: path for the phone); calls come back to where it sent from."""
    phone = UdpClient(edge.port)
    try:
        resp = phone.register("1003", "", ["<sip:1003@192.0.2.99:5060>"])  # not reachable
        assert resp.status == 200 and "require" not in resp.headers
        (b,) = bindings(registrar, "1003")
        assert b.path.endswith(f";lr;received=sip:127.0.0.1:{phone.port}>") and b.instance is None
        caller.send_raw(invite(caller, "1003"))
        while (inv := phone.recv()).method != "INVITE":
            pass
        assert inv.uri_text == "sip:1003@192.0.2.99:5060"
    finally:
        phone.close()


def test_a_forged_flow_token_is_refused(edge):
    client = UdpClient(edge.port)
    try:
        route = f"Route: <sip:AAAAforgedAAAA@127.0.0.1:{edge.port};lr;ob>"
        resp = client.ask("INVITE", "sip:1001@ua.invalid", headers=[route])
        assert (resp.status, resp.reason) == (403, "Forbidden")
    finally:
        client.close()


def test_a_browser_whose_websocket_closed_is_temporarily_unavailable(start_proxy):  # noqa: F811
    """A browser registered over a WebSocket without outbound (no reg-id): once its
    connection is gone the binding cannot be used until it registers again; the caller
    gets 480 Temporarily Unavailable, not 404 (the user exists and is registered)."""
    port, ws = free_port(), free_port()
    proxy = start_proxy(
        port=port, auth=False,
        listen=(Listen("udp", "127.0.0.1", port), Listen("ws", "127.0.0.1", ws)),
    )  # fmt: skip
    ua = FlowUA("ws", ws)
    contact = "<sip:1001@ua.invalid;transport=ws>"
    assert ua.register(contact=contact, supported="").status == 200
    wait_closed(proxy, ua)
    caller = UdpClient(proxy.port)
    try:
        caller.send_raw(invite(caller))
        resp = final(caller)
        assert (resp.status, resp.reason) == (480, "Temporarily Unavailable")
        caller.send_raw(invite(caller, user="1003"))  # never registered: still 404
        assert final(caller).status == 404
    finally:
        caller.close()
