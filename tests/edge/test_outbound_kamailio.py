"""kamtool's registrar against Kamailio 5.6's for SIP Outbound and Path: the same
REGISTERs over TCP (with ``+sip.instance`` and ``reg-id``, straight from the UA and as
relayed by an edge proxy) get the same answers (status, ``Require``/``Supported:
outbound``, the echoed Path, the contact's instance and reg-id) and leave the same
``location`` values (instance, reg_id, path, socket transport).

Kamailio runs the reference cfg with the registrar modparams kamtool's defaults
correspond to: ``use_path 1``, ``path_mode 2``, ``outbound_mode 1``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.edge.flow_ua import INSTANCE, FlowUA
from tests.proxy.conftest import proxy_db, start_proxy  # noqa: F401 (fixtures)
from tests.support.kamailio import CONFIG, Kamailio, require_kamailio

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
