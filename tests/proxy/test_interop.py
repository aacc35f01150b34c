"""kamtool's proxy and a real Kamailio 5.6 on the same SQLite database: each one sees the
registrations the other saved in ``location``."""

from __future__ import annotations

import pytest

from tests.proxy.conftest import USERS, need
from tests.proxy.harness import explain, sipp, sipp_background
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
    from tests.support.kamailio import Kamailio, kamailio_available

    if not kamailio_available():
        pytest.skip("kamailio 5.6 with the reference cfg is not installed (scripts/test)")
    need("sipp")
    # 1. kamtool saves 1001 (write-through), then stops
    ours = start_proxy(db_mode=1)
    port_1001 = free_port()
    res = sipp(
        "register.xml",
        ours.port,
        port_1001,
        service="1001",
        auth=("1001", USERS["1001"]),
        variables={"expires": "600"},
    )
    assert res.returncode == 0, explain(res)
    ours.stop()
    # 2. Kamailio (usrloc db_mode 2) loads it at start and saves 1002 itself
    uas_port = free_port()
    with Kamailio(tmp_path, db=proxy_db, seed=False) as k:
        contacts = _contacts(k.rpc("ul.dump"))
        (c,) = contacts["1001"]
        assert c["Address"] == f"sip:1001@127.0.0.1:{port_1001};transport=UDP"
        assert 500 < c["Expires"] <= 600 and c["Q"] == -1
        assert c["Ruid"].startswith("uloc-") and c["Methods"] == 4294967295
        res = sipp(
            "register.xml",
            k.sip_port,
            uas_port,
            service="1002",
            auth=("1002", USERS["1002"]),
            variables={"expires": "600"},
        )
        assert res.returncode == 0, explain(res)
    # Kamailio flushed its write-back cache at shutdown
    # 3. kamtool loads Kamailio's row and routes a call to it
    ours = start_proxy(db_mode=2)
    (b,) = ours.call(lambda: ours.server.usrloc.lookup("1002"))
    assert b.contact == f"sip:1002@127.0.0.1:{uas_port};transport=UDP"
    assert b.ruid.startswith("uloc-") and b.expires > 0
    uas = sipp_background("uas_answer.xml", ours.port, uas_port)
    try:
        res = sipp(
            "uac_call.xml",
            ours.port,
            service="1002",
            auth=("1001", USERS["1001"]),
            variables={"caller": "1001"},
        )
        assert res.returncode == 0, explain(res)
        assert uas.wait(20) == 0, uas.communicate()[0][-3000:]
    finally:
        uas.kill()
