"""The Kamailio harness itself: a real Kamailio starts, answers JSON-RPC and registers users."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.kamailio


def test_kamailio_answers_jsonrpc_and_has_the_seeded_rows(kamailio):
    assert kamailio.rpc("core.version").startswith("kamailio 5.6")
    # seeded by kamctl: dispatcher set 1 has two destinations
    sets = kamailio.rpc("dispatcher.list")["RECORDS"]
    uris = [t["DEST"]["URI"] for s in sets for t in s["SET"]["TARGETS"]]
    assert "sip:127.0.0.1:5062" in uris


def test_sipsak_registers_with_digest_auth(kamailio):
    target = f"sip:1001@127.0.0.1:{kamailio.sip_port}"
    ok = subprocess.run(
        ["sipsak", "-U", "-C", "sip:1001@127.0.0.1:5999", "-s", target, "-a", "secret1001",
         "-x", "60"], capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    contacts = kamailio.rpc("ul.lookup", "location", "1001")["Contacts"]
    assert any("5999" in c["Contact"]["Address"] for c in contacts)
    bad = subprocess.run(
        ["sipsak", "-U", "-C", "sip:1001@127.0.0.1:5998", "-s", target, "-a", "wrong", "-x", "60"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode != 0
