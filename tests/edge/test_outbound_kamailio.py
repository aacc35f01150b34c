"""kamtool's registrar against Kamailio 5.6's for SIP Outbound and Path: the same
REGISTERs over TCP (with ``+sip.instance`` and ``reg-id``, straight from the UA and as
relayed by an edge proxy) get the same answers (status, ``Require``/``Supported:
outbound``, the echoed Path, the contact's instance and reg-id) and leave the same
``location`` values (instance, reg_id, path, socket transport).

Kamailio runs the reference cfg with the registrar modparams kamtool's defaults
correspond to: ``use_path 1``, ``path_mode 2``, ``outbound_mode 1``."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kamtool.proxy.config import Listen
from tests.edge.flow_ua import INSTANCE, FlowUA
from tests.proxy.conftest import proxy_db, start_proxy  # noqa: F401 (fixtures)
from tests.proxy.harness import UdpClient
from tests.support.kamailio import CONFIG, Kamailio, require_kamailio
from tests.support.ports import free_port

pytestmark = [pytest.mark.kamailio, pytest.mark.slow]

PARAMS = (
    'modparam("registrar", "use_path", 1)\n'
    'modparam("registrar", "path_mode", 2)\n'
    'modparam("registrar", "outbound_mode", 1)\n'
)
OB_PATH = "<sip:flowtoken@127.0.0.1:5999;transport=tcp;lr;ob>"

# (name, register() keywords): the REGISTERs both registrars get
CASES = [
    ("direct", {}),
    ("edge-ob", {"edge": True, "extra": (f"Path: {OB_PATH}",)}),
    ("edge-no-ob", {"edge": True, "extra": ("Path: <sip:127.0.0.1:5999;transport=tcp;lr>",)}),
    ("no-outbound", {"supported": "path"}),
    ("path-unsupported", {"edge": True, "supported": "", "extra": (f"Path: {OB_PATH}",)}),
]


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory):
    require_kamailio()
    base = tmp_path_factory.mktemp("kamailio-outbound")
    text = CONFIG.read_text()
    anchor = 'modparam("registrar", "gruu_enabled", 0)\n'
    assert anchor in text
    cfg = base / "kamailio-outbound.cfg"
    cfg.write_text(text.replace(anchor, anchor + PARAMS))
    with Kamailio(base / "k", config=cfg) as k:
        yield k


def _answer(ua: FlowUA, **kw: Any) -> dict[str, Any]:
    resp = ua.register(**kw)
    contact = ";".join(resp.headers.get_all("contact"))
    return {
        "status": resp.status,
        "require": resp.headers.get_all("require"),
        "supported": resp.headers.get_all("supported"),
        "path": resp.headers.get_all("path"),
        "unsupported": resp.headers.get_all("unsupported"),
        "instance": f'+sip.instance="{INSTANCE}"' in contact,
        "reg_id": ";reg-id=1" in contact,
    }


def _kamailio_contact(k: Kamailio, user: str) -> dict[str, Any] | None:
    """The contact of ``user`` in Kamailio's ``ul.dump`` (as location holds it)."""
    found = []

    def walk(node: Any, aor: str | None = None) -> None:
        if isinstance(node, dict):
            aor = node.get("AoR", aor)
            if "Contact" in node and isinstance(node["Contact"], dict):
                if aor == user:
                    found.append(node["Contact"])
                return
            for v in node.values():
                walk(v, aor)
        elif isinstance(node, list):
            for v in node:
                walk(v, aor)

    walk(k.rpc("ul.dump"))
    if not found:
        return None
    c = found[0]
    unset = "[not set]"
    return {
        "instance": None if c.get("Instance") in (None, unset) else c["Instance"],
        "reg_id": int(c.get("Reg-Id") or 0),
        "path": None if c.get("Path") in (None, unset) else c["Path"],
        "transport": str(c.get("Socket", "")).split(":", 1)[0],
    }


def _kamtool_contact(proxy: Any, user: str) -> dict[str, Any] | None:
    found = proxy.call(lambda: proxy.server.usrloc.lookup(user))
    if not found:
        return None
    b = found[0]
    return {"instance": b.instance, "reg_id": b.reg_id, "path": b.path,
            "transport": (b.socket or "").split(":", 1)[0]}  # fmt: skip


@pytest.mark.parametrize(("name", "kw"), CASES, ids=[c[0] for c in CASES])
def test_same_answers_and_location_values_as_kamailio(kamailio, start_proxy, name, kw):  # noqa: F811
    kamtool = start_proxy()
    user = {"direct": "1001", "edge-ob": "1002", "edge-no-ob": "1003"}.get(name, "1001")
    answers, rows = [], []
    for port, contact in ((kamailio.sip_port, _kamailio_contact), (kamtool.port, None)):
        ua = FlowUA("tcp", port, user=user, password=f"secret{user}")
        try:
            answers.append(_answer(ua, **kw))
            if contact is not None:
                rows.append(contact(kamailio, user))
            else:
                rows.append(_kamtool_contact(kamtool, user))
            ua.register(expires=0, **kw)  # leave the next case a clean AoR
        finally:
            ua.close()
    kam, ours = answers
    if name == "path-unsupported":
        # Kamailio stores the contact and then answers 420 (path_mode 2); kamtool answers
        # 420 before storing anything (RFC 3327 5.3): only the answers are compared
        assert kam["status"] == ours["status"] == 420
        assert kam["unsupported"] == ours["unsupported"] == ["path"]
        for header in ("require", "supported", "path"):
            assert ours[header] == kam[header], header
        assert rows[1] is None
        return
    assert ours == kam, f"{name}: kamtool {ours} != Kamailio {kam}"
    assert rows[1] == rows[0], f"{name}: kamtool {rows[1]} != Kamailio {rows[0]}"


def _authed_invite(caller: UdpClient, user: str) -> None:
    """Send an INVITE from 1002 to ``user`` through Kamailio, its 407 answered; the
    caller reads the answers."""
    from kamtool.sip.digest import answer_challenge, parse_challenge

    uri = f"sip:{user}@127.0.0.1"
    call_id = f"ob-call-{caller.port}-{caller._n}@127.0.0.1"
    contact = "Contact: <sip:1002@127.0.0.1>"
    first = caller.ask("INVITE", uri, from_user="1002", call_id=call_id, headers=[contact])
    assert first.status == 407, first.status
    ch = parse_challenge(first.headers.get("proxy-authenticate"))
    creds = answer_challenge(ch, method="INVITE", uri=uri, username="1002",
                             password="secret1002", cnonce="0b5e2a1c")  # fmt: skip
    auth = f"Proxy-Authorization: {creds.to_header()}"
    caller.send_raw(caller.request("INVITE", uri, from_user="1002", call_id=call_id, cseq=2,
                                   headers=[contact, auth]))  # fmt: skip


def test_kamtool_edge_in_front_of_kamailio(kamailio, start_proxy):  # noqa: F811
    """A UA on a WebSocket (as a browser) registers with Kamailio through kamtool's edge
    (Path with a flow token and ;ob); Kamailio's lookup() sends a call along that Path and
    the edge puts it on the WebSocket; once the WebSocket is gone the edge answers 430."""
    port, ws = free_port(), free_port()
    edge = start_proxy(
        port=port,
        listen=(Listen("udp", "127.0.0.1", port), Listen("tcp", "127.0.0.1", port),
                Listen("ws", "127.0.0.1", ws)),
        edge_registrar=f"sip:127.0.0.1:{kamailio.sip_port};transport=tcp",
    )  # fmt: skip
    ua = FlowUA("ws", ws, user="1003", password="secret1003")
    caller = UdpClient(kamailio.sip_port)
    try:
        resp = ua.register()
        assert resp.status == 200 and resp.headers.get_all("require") == ["outbound"]
        (path,) = resp.headers.get_all("path")
        assert f"@127.0.0.1:{port};transport=tcp;lr;" in path and path.endswith(";ob>")
        assert _kamailio_contact(kamailio, "1003")["path"] == path
        _authed_invite(caller, "1003")
        inv = ua.recv()  # Kamailio -> Path -> kamtool edge -> the WebSocket
        assert inv.method == "INVITE" and inv.uri_text.startswith("sip:1003@ua.invalid")
        ua.answer(inv)
        while (resp := caller.recv()).status < 200:
            pass
        assert resp.status == 200
        ua.close()
        deadline = time.monotonic() + 5
        while edge.call(lambda: edge.server.parts.transports.alive(ua.local)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        _authed_invite(caller, "1003")
        while (resp := caller.recv()).status < 200:
            pass
        assert (resp.status, resp.reason) == (430, "Flow Failed")
    finally:
        ua.close()
        caller.close()
