"""`kamtool shv get` (every shared variable) against a real Kamailio 5.6 over each
transport. Kamailio answers ``{"items": {"shv": {...}, "shv": {...}}}``, one member per
variable and all named ``shv``: kamtool showed one row ``{"shv": {...}}`` (the last
variable only), and a row of empty cells when there was none."""

from __future__ import annotations

import pytest

from tests.support.cli import invoke
from tests.support.kamailio import CONFIG, Kamailio, require_kamailio
from tests.support.targets import TRANSPORTS

pytestmark = pytest.mark.kamailio

SHVS = [
    {"name": "gw", "type": "string", "value": "edge"},
    {"name": "maxcalls", "type": "int", "value": 10},
    {"name": "zone", "type": "int", "value": 3},
]


@pytest.fixture(scope="module")
def kamailio_shv(tmp_path_factory):
    require_kamailio()
    base = tmp_path_factory.mktemp("shv")
    kinds = {"int": "i", "string": "s"}
    pv = "".join(
        f'modparam("pv", "shvset", "{v["name"]}={kinds[v["type"]]}:{v["value"]}")\n' for v in SHVS
    )
    text = CONFIG.read_text().replace('loadmodule "pike.so"\n', 'loadmodule "pike.so"\n' + pv, 1)
    cfg = base / "kamailio-shv.cfg"
    cfg.write_text(text)
    with Kamailio(base, seed=False, config=cfg) as k:
        yield k


def url_of(k: Kamailio, transport: str) -> str:
    return {"http": k.rpc_http_url, "fifo": f"fifo:{k.fifo_path}",
            "dgram": f"unix:{k.dgram_path}"}[transport]  # fmt: skip


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_shared_variable_is_shown(kamailio_shv, transport):
    r = invoke("--json", "--rpc", url_of(kamailio_shv, transport), "shv", "get")
    assert r.exit_code == 0, r.stderr
    assert sorted(r.json(), key=lambda v: v["name"]) == SHVS


def test_no_shared_variable_is_no_row(target):
    r = invoke("--json", "--rpc", target.url("http"), "shv", "get")
    assert r.exit_code == 0, r.stderr
    assert r.json() == []
