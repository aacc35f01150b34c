"""REQINIT flood protection on real sockets: a source that floods kamtool's proxy from its
own loopback address is cut by pike, banned in ``ipban`` and shown by ``pike.top``;
others are still served; the ban expires. Then the same flood against a real Kamailio 5.6
with the reference cfg, compared."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import httpx
import pytest

from kamtool.config import load_settings
from kamtool.errors import ConfigError
from kamtool.proxy.config import ProxyConfig, proxy_config
from tests.support.cli import invoke
from tests.support.flood import Flooder, leaf, sync_to_sampling_unit
from tests.support.ports import free_port


def rpc_at(port: int):
    def call(method: str, *params):
        body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
        reply = httpx.post(f"http://127.0.0.1:{port}/RPC", json=body, timeout=10).json()
        assert "error" not in reply, reply
        return reply["result"]

    return call


def start_with_rpc(start_proxy, tmp_path, **changes):
    rpc_port = free_port()
    proxy = start_proxy(
        rpc_listen=f"127.0.0.1:{rpc_port}", rpc_runtime_dir=str(tmp_path / "rt"), **changes
    )
    return proxy, rpc_port


# 20 requests per unit, with units and latency far longer than a test: no unit boundary
# moves a count while the test runs
FROZEN_PIKE = {
    "pike_reqs_density_per_unit": 20,
    "pike_sampling_time_unit": 600,
    "pike_remove_latency": 600,
}


def kt(rpc_port: int, *args: str):
    r = invoke("--json", "--rpc", f"http://127.0.0.1:{rpc_port}/RPC", *args)
    assert r.exit_code == 0, r.stderr
    return r.json()


@pytest.mark.parametrize("method", ["OPTIONS", "REGISTER"])
def test_flood_is_cut_banned_and_shown(start_proxy, tmp_path, caplog, method):
    # 20 per unit; units and latency far longer than the test, so no unit boundary moves
    # the count: a fresh source needs 7 requests to grow pike's tree down to its address
    # (20/4 = 5 on the /8, then one per level), then 20 of its own; the 27th is cut.
    proxy, rpc_port = start_with_rpc(start_proxy, tmp_path, **FROZEN_PIKE)
    caplog.set_level(logging.INFO, logger="kamtool.proxy")
    with Flooder("127.0.0.2", proxy.port, method) as flood:
        assert flood.until_unanswered(100) == 27
        assert flood.one(wait=0.3) is None  # still dropped (by the ban now)
    with Flooder("127.0.0.3", proxy.port, method) as other:
        assert other.one() in (200, 401)  # a neighbour is still served

    dump = kt(rpc_port, "htable", "dump", "ipban")
    assert any(r.get("name") == "127.0.0.2" and r.get("value") == 1 for r in dump), dump
    (row,) = kt(rpc_port, "pike", "top")["rows"]
    assert 0 < row.pop("expires") <= 600  # remove_latency after its last counted request
    assert row == {"ip": "127.0.0.2", "hits_prev": 0, "hits_curr": 20, "status": "HOT"}
    rpc = rpc_at(rpc_port)
    assert rpc("stats.get_statistics", "pike:") == ["pike:blocked_ips = 1"]
    every = {r["ip_addr"]: r["status"] for r in rpc("pike.top", "ALL")["list"]}
    assert every["127.0.0.2"] == "HOT" and every.get("127.0.0.3", "") == ""
    blocks = [r for r in caplog.records if "pike blocking" in r.getMessage()]
    assert len(blocks) == 1 and blocks[0].levelno == logging.WARNING
    assert "127.0.0.2" in blocks[0].getMessage() and method in blocks[0].getMessage()


def test_ipv6_flood_is_cut_and_banned_by_its_address(start_proxy, tmp_path):
    # 16 address bytes: the 5th hit grows the second level, one more each for the other 14,
    # then 20 of its own
    from kamtool.proxy.config import Listen

    rpc_port = free_port()
    proxy = start_proxy(
        listen=(Listen("udp", "::1", free_port()),),
        rpc_listen=f"127.0.0.1:{rpc_port}",
        rpc_runtime_dir=str(tmp_path / "rt"),
        pike_reqs_density_per_unit=20,
        pike_sampling_time_unit=600,
    )
    with Flooder("::1", proxy.port, target="::1") as flood:
        assert flood.until_unanswered(100) == 5 + 14 + 20
    rpc = rpc_at(rpc_port)
    assert [(r["ip_addr"], r["status"]) for r in rpc("pike.top")["list"]] == [("::1", "HOT")]
    assert [s["name"] for b in rpc("htable.dump", "ipban") for s in b["slot"]] == ["::1"]


def test_ban_expires_and_the_source_is_served_again(start_proxy, tmp_path):
    proxy, rpc_port = start_with_rpc(
        start_proxy,
        tmp_path,
        pike_reqs_density_per_unit=20,
        pike_sampling_time_unit=0.5,
        pike_remove_latency=1,
        ipban_autoexpire=2,
    )
    rpc = rpc_at(rpc_port)
    with Flooder("127.0.0.2", proxy.port) as flood:
        assert flood.until_unanswered(200) is not None
        banned = rpc("htable.dump", "ipban")
        assert [s["name"] for b in banned for s in b["slot"]] == ["127.0.0.2"]
        for _ in range(100):  # bounded: 100 x 0.3 s
            if flood.one(wait=0.3) is not None:
                break
        else:
            pytest.fail("127.0.0.2 was never served again")
    assert rpc("htable.dump", "ipban") == []
    assert rpc("pike.top")["list"] == []
    assert rpc("stats.get_statistics", "pike:") == ["pike:blocked_ips = 1"]


def test_pike_can_be_disabled(start_proxy):
    proxy = start_proxy(pike=False, pike_reqs_density_per_unit=5)
    with Flooder("127.0.0.2", proxy.port) as flood:
        assert flood.until_unanswered(300) is None
    assert proxy.server.parts.pike is None


def test_malformed_requests_count_and_banned_ones_get_no_400(start_proxy):
    proxy = start_proxy(pike_reqs_density_per_unit=4, pike_sampling_time_unit=600)
    with Flooder("127.0.0.2", proxy.port) as flood:
        bad = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: nonsense\r\nCSeq: x\r\n\r\n"
        answers = []
        for _ in range(20):
            flood.sock.sendto(bad, ("127.0.0.1", proxy.port))
            flood.sock.settimeout(0.3)
            try:
                answers.append(flood.sock.recv(65535).split(b" ", 2)[1])
            except TimeoutError:
                answers.append(None)
    assert answers[0] == b"400"
    assert answers[-1] is None and proxy.stat("pike:blocked_ips") == 1


# ------------------------------------------------------------------ against Kamailio 5.6


class UnitBoundary(Exception):
    """A pike sampling unit began during the flood (a loaded machine sent the 200 requests
    slower than one unit): its count is not comparable."""


def comparable(flood_on_a_fresh_server, attempts: int = 3):
    """``flood_on_a_fresh_server(attempt)``, again on a new server when a unit boundary
    fell inside the flood; a machine too loaded for any of ``attempts`` fails the test."""
    for attempt in range(attempts):
        try:
            return flood_on_a_fresh_server(attempt)
        except UnitBoundary:
            continue
    pytest.fail(f"a pike sampling unit began mid-flood {attempts} times: machine too loaded")


def flood_after_unit_start(port: int, rpc) -> dict:
    """The comparable flood: 127.0.0.2 is tracked, a unit begins, then requests until
    one is dropped; what the server shows afterwards."""
    with Flooder("127.0.0.2", port) as flood:
        prev = sync_to_sampling_unit(flood, rpc)
        cut_at = flood.until_unanswered(400)
    hot = rpc("pike.top")
    # a unit boundary during the flood would show as the flood's hits moved to prev
    if leaf(rpc, "127.0.0.2")["leaf_hits_prev"] != prev:
        raise UnitBoundary
    with Flooder("127.0.0.3", port) as other:
        other_status = other.one()
    return {
        "cut_at": cut_at,
        "max_hits": hot["max_hits"],
        "hot": [(r["ip_addr"], r["leaf_hits_curr"], r["status"]) for r in hot["list"]],
        "expires": [r["expires"] for r in hot["list"]],
        "ipban": rpc("htable.dump", "ipban"),
        "blocked_ips": rpc("stats.get_statistics", "pike:"),
        "other": other_status,
    }


def kamailio_or_skip():
    from tests.support.kamailio import require_kamailio

    require_kamailio()


def test_same_flood_same_outcome_as_kamailio(start_proxy, tmp_path):
    kamailio_or_skip()
    from tests.support.kamailio import Kamailio

    def kamailio(attempt: int):  # the reference cfg: 200 per 2 s, latency 4, ban 300 s
        (tmp_path / f"k{attempt}").mkdir()
        with Kamailio(tmp_path / f"k{attempt}") as k:
            return flood_after_unit_start(k.sip_port, k.rpc), k.log_text()

    def kamtool(attempt: int):  # the same defaults
        (tmp_path / f"p{attempt}").mkdir()
        proxy, rpc_port = start_with_rpc(start_proxy, tmp_path / f"p{attempt}")
        return flood_after_unit_start(proxy.port, rpc_at(rpc_port))

    theirs, log = comparable(kamailio)
    ours = comparable(kamtool)

    # after a unit begins, the 200th request of a tracked source is the first dropped
    assert theirs["cut_at"] == ours["cut_at"] == 200
    for side in (theirs, ours):
        assert side["max_hits"] == 200
        assert side["hot"] == [("127.0.0.2", 200, "HOT")]
        assert all(1 <= e <= 4 for e in side["expires"])  # remove_latency 4, whole seconds
        assert side["blocked_ips"] == ["pike:blocked_ips = 1"]
        assert side["other"] == 200
    # the same ban, in the same hash bucket
    assert (
        theirs["ipban"]
        == ours["ipban"]
        == [{"entry": 20, "size": 1, "slot": [{"name": "127.0.0.2", "value": 1, "type": "int"}]}]
    )
    # Kamailio logs the block once (pike and the cfg's xlog) and then every dropped
    # packet ("request from banned ip"); kamtool logs the block once only.
    assert log.count("pike blocking OPTIONS") == 1
    assert "BLOCKing ip 127.0.0.2" in log


def test_kamailio_keeps_the_density_in_16_bits(tmp_path, monkeypatch):
    """reqs_density_per_unit = 65536 + 200 acts as 200 in Kamailio 5.6 (an unsigned short
    in pike's tree root); kamtool takes the number as given (see kamtool.proxy.pike)."""
    kamailio_or_skip()
    import tests.support.kamailio as support

    cfg = tmp_path / "kamailio-pike16.cfg"
    line = 'modparam("pike", "reqs_density_per_unit", 200)'
    text = support.CONFIG.read_text()
    assert line in text
    cfg.write_text(text.replace(line, line.replace("200", str(65536 + 200))))
    monkeypatch.setattr(support, "CONFIG", cfg)
    def kamailio(attempt: int):
        (tmp_path / f"k{attempt}").mkdir()
        with support.Kamailio(tmp_path / f"k{attempt}") as k:
            return flood_after_unit_start(k.sip_port, k.rpc)

    outcome = comparable(kamailio)
    assert outcome["max_hits"] == 200 and outcome["cut_at"] == 200


# ------------------------------------------------------------------ configuration


def test_serve_flags_set_the_limit(tmp_path):
    """``kamtool serve --pike-density 5 --pike-unit 600``: 5/4 = 1 hit grows each prefix
    level, so a fresh source's leaf counts from request 5 and request 9 is its 5th: cut."""
    sip, rpc_port = free_port(), free_port()
    db = "sqlite:///" + str(tmp_path / "k.sqlite")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kamtool", "--db", db, "serve", "--listen",
         f"udp:127.0.0.1:{sip}", "--rpc-listen", f"127.0.0.1:{rpc_port}",
         "--pike-density", "5", "--pike-unit", "600"],
        env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(100):  # ready once JSON-RPC answers (bounded: 100 x 0.2 s)
            if invoke("--rpc", f"http://127.0.0.1:{rpc_port}/RPC", "uptime").exit_code == 0:
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        with Flooder("127.0.0.2", sip) as flood:
            assert flood.until_unanswered(50) == 9
        top = rpc_at(rpc_port)("pike.top")
        assert top["max_hits"] == 5
        assert [(r["ip_addr"], r["leaf_hits_curr"]) for r in top["list"]] == [("127.0.0.2", 5)]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert "pike blocking OPTIONS" in proc.stderr.read()


def test_toml_section_tunes_and_disables_pike(tmp_path):
    cfg = tmp_path / "k.toml"
    cfg.write_text(
        "[proxy]\npike_reqs_density_per_unit = 50\npike_sampling_time_unit = 1\n"
        "pike_remove_latency = 3\nipban_autoexpire = 60\n"
    )
    pc = proxy_config(load_settings(config_file=cfg))
    assert (pc.pike, pc.pike_reqs_density_per_unit, pc.pike_sampling_time_unit) == (True, 50, 1)
    assert (pc.pike_remove_latency, pc.ipban_autoexpire) == (3, 60)
    cfg.write_text("[proxy]\npike = false\n")
    assert proxy_config(load_settings(config_file=cfg)).pike is False
    defaults = ProxyConfig()  # the reference cfg's values
    assert (defaults.pike_reqs_density_per_unit, defaults.pike_sampling_time_unit) == (200, 2)
    assert (defaults.pike_remove_latency, defaults.ipban_autoexpire) == (4, 300)
    for bad in ("pike_reqs_density_per_unit = 0", 'pike = "yes"', "pike_sampling_time_unit = -1"):
        cfg.write_text("[proxy]\n" + bad + "\n")
        with pytest.raises(ConfigError):
            proxy_config(load_settings(config_file=cfg))


def test_pike_top_warm_lists_a_scan_getting_close(start_proxy, tmp_path):
    """`kamtool pike top --warm`: a scan from one /24, each address sending a little; once
    the /24 is busy every new address's leaf inherits its hits and is WARM, none is HOT."""
    proxy, rpc_port = start_with_rpc(start_proxy, tmp_path, **FROZEN_PIKE)
    for host in range(1, 13):
        with Flooder(f"127.0.1.{host}", proxy.port) as source:
            assert [source.one(), source.one()] == [200, 200]
    warm = kt(rpc_port, "pike", "top", "--warm")["rows"]
    assert warm and all(r["status"] == "WARM" and r["ip"].startswith("127.0.1.") for r in warm)
    every = kt(rpc_port, "pike", "top", "--all")["rows"]
    assert {r["ip"] for r in warm} < {r["ip"] for r in every}  # the first ones are not warm
    assert kt(rpc_port, "pike", "top")["rows"] == []
