"""`kamtool cr`: carrierroute's names, routes and failure routes on each engine, and a real
Kamailio 5.6 loading them (cr.dump_routes after cr.reload_routes), with kamctl's rows."""

from __future__ import annotations

import pytest

from tests.provisioning.conftest import create_standard_tables, rows
from tests.support.cli import invoke
from tests.support.kamailio import require_kamailio


def kt(url: str, *args: str):
    return invoke("--db", url, *args)


def ok(url: str, *args: str):
    r = kt(url, *args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


def test_names_routes_failure_routes(url):
    ok(url, "cr", "carrier", "add", "1", "default")
    ok(url, "cr", "domain", "add", "1", "proxy")
    ok(url, "cr", "domain", "add", "2", "fallback")
    assert kt(url, "cr", "carrier", "add", "1", "other").exit_code == 4
    assert kt(url, "cr", "carrier", "add", "2", "default").exit_code == 4
    ok(url, "cr", "route", "add", "1", "49", "1", "gw1.example.com", "0.5", "2", "+49", "",
       "--comment", "germany")  # fmt: skip
    ok(url, "cr", "route", "add", "1", "49", "1", "gw2.example.com", "0.5")
    assert rows(url, "carrierroute", "carrier, domain, scan_prefix, prob, strip, rewrite_host, "
                "rewrite_prefix, description") == [
        (1, 1, "49", 0.5, 2, "gw1.example.com", "+49", "germany"),
        (1, 1, "49", 0.5, 0, "gw2.example.com", "", None),
    ]  # fmt: skip
    assert kt(url, "cr", "route", "add", "9", "49", "1", "gw").exit_code == 3  # no carrier 9
    assert kt(url, "cr", "route", "add", "1", "4", "2", "gw", "1.5").exit_code == 2
    zero = kt(url, "cr", "route", "add", "1", "4", "2", "gw", "0")
    assert zero.exit_code == 2 and "probability 0" in zero.stderr
    ok(url, "cr", "failure", "add", "1", "1", "49", "gw1.example.com", "5..", "2")
    assert kt(url, "cr", "failure", "add", "1", "1", "49", "gw1", "5x.", "2").exit_code == 2
    assert kt(url, "cr", "failure", "add", "1", "1", "49", "gw1", "503", "7").exit_code == 3
    busy = kt(url, "cr", "domain", "rm", "2")
    assert busy.exit_code == 2 and "routes still use domain 2" in busy.stderr
    (fid,) = rows(url, "carrierfailureroute", "id")[0]
    ok(url, "cr", "failure", "rm", str(fid))
    ok(url, "cr", "domain", "rm", "2")
    r = ok(url, "--json", "cr", "route", "rm", "1", "49", "1").json()
    assert r["count"] == 2
    assert [c["carrier"] for c in ok(url, "--json", "cr", "carrier", "show").json()] == ["default"]


def test_kamctl_spellings_work(url):
    ok(url, "cr", "addcn", "1", "default")
    ok(url, "cr", "adddn", "1", "proxy")
    ok(url, "cr", "addcarrier", "1", "49", "1", "gw1", "1", "0", "+49")
    assert [r["rewrite_host"] for r in ok(url, "--json", "cr", "show").json()] == ["gw1"]
    ok(url, "cr", "rmcarrier", "1", "49", "1")
    ok(url, "cr", "rmdn", "1")
    ok(url, "cr", "rmcn", "1")
    assert rows(url, "carrier_name", "id") == [] and rows(url, "carrierroute", "id") == []


# (scan_prefix, rewrite_host, prob, strip, rewrite_prefix, rewrite_suffix)
CR_ROUTES = [
    ("49", "gw1.example.com", "0.5", "0", "+", ""),
    ("49", "gw2.example.com", "0.3", "0", "", "x"),
    ("49", "gw3.example.com", "0.2", "2", "", ""),
    ("4930", "berlin.example.com", "1", "4", "030", ""),
    ("", "default.example.com", "1", "0", "00", ""),
    ("44", "", "1", "0", "", ""),  # no host: a blocklisted destination, the call fails
    ("33", "off.example.com", "0", "0", "", ""),
    ("33", "paris.example.com", "0.7", "0", "", ""),
]
CR_NUMBERS = ["49123", "4930555", "1234", "44777", "33999", "+49123"]


def test_cr_select_agrees_with_kamailios_cr_route(tmp_path):
    require_kamailio()
    from tests.support.kamailio_modules import ModulesKamailio
    from tests.support.sip_probe import probe_answer

    url = "sqlite:///" + str(tmp_path / "cr.sqlite")
    create_standard_tables(url)
    ok(url, "cr", "carrier", "add", "1", "default", "--no-reload")
    ok(url, "cr", "domain", "add", "1", "proxy", "--no-reload")
    for prefix, host, prob, strip, rprefix, rsuffix in CR_ROUTES:
        ok(url, "cr", "route", "add", "1", prefix, "1", host, prob, strip, rprefix, rsuffix,
           "--no-reload")  # fmt: skip
    with ModulesKamailio(tmp_path, db=url, carrierroute=True) as k:
        seen = set()
        for number in CR_NUMBERS:
            for n in range(12):
                call_id = f"call-{n}-{number}@test"
                status, reason, _ = probe_answer(k.sip_port, "cr", "1001", number, call_id=call_id)
                offline = kt(url, "--json", "cr", "select", "default", "proxy", number,
                             "--hash-value", call_id)  # fmt: skip
                if status != 200:
                    assert status == 404 and offline.exit_code == 3, (number, reason)
                    continue
                assert offline.exit_code == 0, offline.stderr
                assert reason == offline.json()["uri"], (number, call_id)
                seen.add(offline.json()["rewrite_host"])
        # the hash spread the 49 calls over the three weighted gateways
        assert {"gw1.example.com", "gw2.example.com", "gw3.example.com"} <= seen
        assert "off.example.com" not in seen


# (scan_prefix, host_name, reply_code, next domain id, mask, flags)
CR_FAILURES = [
    ("49", "gw1.example.com", "5..", "2", "0", "0"),
    ("49", "", "486", "3", "0", "0"),
    ("49", "", "4..", "4", "0", "0"),
    ("49", "gw1.example.com", "503", "5", "0", "0"),
    ("", "", "...", "6", "0", "0"),
    ("4930", "", "408", "7", "0", "0"),
]
# (number, host, reply code)
CR_FAILED_CALLS = [
    ("49123", "gw1.example.com", "503"), ("49123", "gw1.example.com", "500"),
    ("49123", "gw2.example.com", "486"), ("49123", "gw2.example.com", "404"),
    ("49123", "gw2.example.com", "503"), ("4930555", "gw1.example.com", "408"),
    ("4930555", "gw1.example.com", "503"), ("1234", "x", "600"),
]  # fmt: skip


def test_cr_next_domain_agrees_with_kamailio(tmp_path):
    require_kamailio()
    from tests.support.kamailio_modules import ModulesKamailio
    from tests.support.sip_probe import probe_answer

    url = "sqlite:///" + str(tmp_path / "crf.sqlite")
    create_standard_tables(url)
    ok(url, "cr", "carrier", "add", "1", "default", "--no-reload")
    for n in range(1, 8):
        ok(url, "cr", "domain", "add", str(n), "proxy" if n == 1 else f"d{n}", "--no-reload")
    ok(url, "cr", "route", "add", "1", "", "1", "gw1.example.com", "--no-reload")
    for prefix, host, code, nxt, mask, flags in CR_FAILURES:
        ok(url, "cr", "failure", "add", "1", "1", prefix, host, code, nxt,
           "--mask", mask, "--flags", flags, "--no-reload")  # fmt: skip
    answered = 0
    with ModulesKamailio(tmp_path, db=url, carrierroute=True) as k:
        for number, host, code in CR_FAILED_CALLS:
            headers = {"X-Host": host, "X-Code": code}
            status, reason, _ = probe_answer(k.sip_port, "crf", "1001", number, headers=headers)
            offline = kt(url, "--json", "cr", "next-domain", "default", "proxy", number, host, code)
            if status != 200:
                assert status == 404 and offline.exit_code == 3, (number, host, code, reason)
            else:
                assert offline.exit_code == 0, offline.stderr
                assert int(reason) == offline.json()["next_domain"], (number, host, code)
                answered += 1
    assert answered >= 6


@pytest.mark.kamailio
def test_kamailio_loads_the_routes_and_kamctls_rows_are_shown(tmp_path):
    require_kamailio()
    from tests.support.kamailio_modules import ModulesKamailio

    url = "sqlite:///" + str(tmp_path / "cr.sqlite")
    create_standard_tables(url)
    # carrierroute does not start without a carrier: provision before starting
    ok(url, "cr", "carrier", "add", "1", "default", "--no-reload")
    ok(url, "cr", "domain", "add", "1", "proxy", "--no-reload")
    ok(url, "cr", "route", "add", "1", "49", "1", "gw1.example.com", "1", "0", "+49", "--no-reload")
    with ModulesKamailio(tmp_path, db=url, carrierroute=True) as k:
        rpc = ("--rpc", k.rpc_http_url)
        dumped = ok(url, *rpc, "--json", "cr", "dump").json()
        # Kamailio names both prefixes "prefix": both are kept, scan prefix first
        assert [
            (d["carrier"], d["domain"], d["host"], d["scan_prefix"], d["rewrite_prefix"])
            for d in dumped
        ] == [("default", "proxy", "gw1.example.com", "49", "+49")]
        ok(url, *rpc, "cr", "route", "add", "1", "44", "1", "gw2.example.com", "1")  # reloads
        hosts = sorted(d["host"] for d in ok(url, *rpc, "--json", "cr", "dump").json())
        assert hosts == ["gw1.example.com", "gw2.example.com"]
        k.kamctl("cr", "addcarrier", "1", "33", "1", "gw3.example.com", "1", "1", "+33")
        shown = ok(url, "--json", "cr", "route", "show").json()
        assert ("33", "gw3.example.com", 1, "+33") in [
            (r["scan_prefix"], r["rewrite_host"], r["strip"], r["rewrite_prefix"]) for r in shown
        ]
        ok(url, *rpc, "cr", "reload")
        assert len(ok(url, *rpc, "--json", "cr", "dump").json()) == 3


def test_engine_flags_masks_and_users():
    from kamtool.core.carrierroute_engine import CarrierRoute, CarrierRouteError, CrRoute

    data = CarrierRoute(
        {1: "default"}, {1: "proxy"},
        [
            CrRoute(1, 1, 1, "1", flags=0, mask=0, rewrite_host="any.example.com"),
            CrRoute(2, 1, 1, "1", flags=2, mask=2, rewrite_host="flagged.example.com"),
            CrRoute(3, 1, 1, "12", rewrite_host="h", strip=9, rewrite_prefix="p"),
        ],
    )  # fmt: skip
    assert data.route("default", "proxy", "19", "19", "c").uri == "sip:19@any.example.com"
    assert data.route(1, 1, "19", "19", "c", flags=2).route.id == 2  # mask 2 is tried first
    assert data.route(1, 1, "19", "19", "c", flags=4).route.id == 1
    assert data.route(1, 1, "123", "123", "c").uri == "sip:p@h"  # strip beyond the user
    assert data.route(1, 1, "123", "", "c").uri == "sip:h"  # no user: the host alone
    assert data.route(1, 1, "123", "123", "c", sips=True).uri.startswith("sips:")
    assert data.route(1, 1, "9", "9", "c") is None  # no prefix matches
    with pytest.raises(CarrierRouteError, match="no carrier named"):
        data.route("other", "proxy", "1", "1", "c")
    with pytest.raises(CarrierRouteError, match="not digits"):
        CarrierRoute({1: "d"}, {1: "p"}, [CrRoute(1, 1, 1, "1a", rewrite_host="h")])
