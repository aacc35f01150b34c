"""kamtool's proxy and a real Kamailio 5.6 on the same SQLite database: each one sees the
registrations the other saved in ``location``."""

from __future__ import annotations

import pytest

from tests.proxy.conftest import need
from tests.proxy.harness import call, explain, register, sipp_peer
from tests.support.ports import free_port

pytestmark = [pytest.mark.kamailio, pytest.mark.sipp]


def _contacts(dump):
    out = {}
    for domain in dump["Domains"]:
        for aor in domain["Domain"]["AoRs"]:
            info = aor["Info"]
            out[info["AoR"]] = [c["Contact"] for c in info["Contacts"]]
    return out


def test_kamailio_sees_kamtool_contacts_and_kamtool_routes_to_kamailio_ones(
    tmp_path, proxy_db, start_proxy
):
    from tests.support.kamailio import Kamailio, require_kamailio

    require_kamailio()
    need("sipp")
    # 1. kamtool saves 1001 (write-through), then stops
    ours = start_proxy(db_mode=1)
    port_1001 = free_port()
    register(ours.port, "1001", port_1001)
    ours.stop()
    # 2. Kamailio (usrloc db_mode 2) loads it at start and saves 1002 itself
    uas_port = free_port()
    with Kamailio(tmp_path, db=proxy_db, seed=False) as k:
        contacts = _contacts(k.rpc("ul.dump"))
        (c,) = contacts["1001"]
        assert c["Address"] == f"sip:1001@127.0.0.1:{port_1001};transport=UDP"
        assert 500 < c["Expires"] <= 600 and c["Q"] == -1
        assert c["Ruid"].startswith("uloc-") and c["Methods"] == 4294967295
        register(k.sip_port, "1002", uas_port)
    # Kamailio flushed its write-back cache at shutdown
    # 3. kamtool loads Kamailio's row and routes a call to it
    ours = start_proxy(db_mode=2)
    (b,) = ours.call(lambda: ours.server.usrloc.lookup("1002"))
    assert b.contact == f"sip:1002@127.0.0.1:{uas_port};transport=UDP"
    assert b.ruid.startswith("uloc-") and b.expires > 0
    with sipp_peer("uas_answer.xml", ours.port, uas_port):
        res = call(ours.port)
        assert res.returncode == 0, explain(res)
