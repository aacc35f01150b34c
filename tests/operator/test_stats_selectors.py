"""`kamtool stats` with the selectors an operator types, on both servers and every
transport: ``group:name`` (Kamailio looks names up without their group, so sending
``tmx:2xx_transactions`` as it is got ``[]`` and "no such statistic"), and kamctl's
``stats GROUP`` without the colon."""

from __future__ import annotations

import pytest

from tests.support.cli import invoke
from tests.support.targets import TRANSPORTS


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_group_and_name_selects_that_statistic(target, transport):
    r = invoke("--json", "--rpc", target.url(transport), "stats", "tmx:2xx_transactions",
               "core:rcv_requests")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert sorted((row["group"], row["name"]) for row in r.json()) == [
        ("core", "rcv_requests"),
        ("tmx", "2xx_transactions"),
    ]


def test_group_without_colon_is_the_group_as_kamctl_takes_it(target):
    r = invoke("--json", "--rpc", target.url("http"), "stats", "usrloc")
    assert r.exit_code == 0, r.stderr
    rows = r.json()
    assert rows and {row["group"] for row in rows} == {"usrloc"}
    assert "location_users" in {row["name"] for row in rows}


def test_reset_of_group_and_name_resets_it(target):
    """Kamailio resets by name: ``stats.reset_statistics core:rcv_requests`` did nothing."""
    url = target.url("fifo")
    assert invoke("ping", f"sip:127.0.0.1:{target.sip_port}").exit_code == 0  # one request
    before = invoke("--json", "--rpc", url, "stats", "core:rcv_requests").json()
    assert before[0]["value"] > 0
    r = invoke("--rpc", url, "stats", "--reset", "core:rcv_requests")
    assert r.exit_code == 0, r.stderr
    after = invoke("--json", "--rpc", url, "stats", "core:rcv_requests").json()
    assert after == [{"group": "core", "name": "rcv_requests", "value": 0}]


def test_watch_a_group_given_as_kamctl_does(target):
    """``stats usrloc --watch``: the bare group sampled nothing (an empty line per sample)."""
    r = invoke("--json", "--rpc", target.url("http"), "stats", "usrloc", "tmx:2xx_transactions",
               "--watch", "0.1", "--count", "1")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    sample = r.json()["stats"]
    assert {row["group"] for row in sample} == {"usrloc", "tmx"}
    assert "location_users" in {row["name"] for row in sample}
    assert [row["name"] for row in sample if row["group"] == "tmx"] == ["2xx_transactions"]


def test_reset_of_a_group_given_as_kamctl_does(target):
    """``stats --reset core``: the bare group was sent as a statistic name (nothing reset)."""
    url = target.url("fifo")
    assert invoke("ping", f"sip:127.0.0.1:{target.sip_port}").exit_code == 0  # one request
    assert invoke("--rpc", url, "stats", "--reset", "core").exit_code == 0
    after = invoke("--json", "--rpc", url, "stats", "core:rcv_requests").json()
    assert after == [{"group": "core", "name": "rcv_requests", "value": 0}]
