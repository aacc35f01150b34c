"""RFC 4475 / RFC 5118 torture messages sent over UDP to a running proxy, inside a private
network namespace so that nothing can leave the machine: the proxy stays up, logs no
internal error, and answers each request as the RFCs say."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sip.test_sip_torture import CHECK_VERDICTS, PARSE_VERDICTS
from tests.support.require import unavailable

ROOT = Path(__file__).resolve().parents[2]


def _status(reply: str) -> int:
    return int(reply.split(" ", 2)[1])


@pytest.fixture(scope="module")
def torture(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        unavailable("needs root with unshare and ip for a private network namespace")
    out = tmp_path_factory.mktemp("torture") / "out.json"
    proc = subprocess.run(
        ["unshare", "-n", "sh", "-c",
         f"ip link set lo up && exec {sys.executable} -m tests.proxy.torture_netns {out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_proxy_survives_every_message_without_internal_errors(torture):
    assert torture["alive"] == "SIP/2.0 200 Keepalive"
    assert torture["errors"] == []
    assert all(_status(r) < 500 or _status(r) in (501, 505) for rs in torture["results"].values()
               for r in rs)  # fmt: skip


@pytest.mark.parametrize(
    "name", sorted(n for n, (_, is_req) in PARSE_VERDICTS.items() if is_req and n != "ncl")
)
def test_malformed_requests_get_the_rfc_status(torture, name):
    status, _ = PARSE_VERDICTS[name]
    replies = torture["results"][f"invalid/{name}"]
    if name == "quotbal":
        # its Via says 192.0.2.59:5050, not the source: NATed by nat_uac_test, so rport is
        # forced and the answer comes back to the source (with nat off it goes to :5050)
        assert ";received=127.0.0.1;rport=" in replies[0]
    assert _status(replies[0]) == status, replies[0]


@pytest.mark.parametrize("name", sorted(CHECK_VERDICTS))
def test_refused_requests_get_the_rfc_status(torture, name):
    (reply,) = torture["results"][f"invalid/{name}"]
    assert _status(reply) == CHECK_VERDICTS[name][1]


def test_proxy_require_gets_420_with_unsupported(torture):
    (reply,) = torture["results"]["invalid/bext01"]
    assert reply.startswith("SIP/2.0 420 ")
    assert "Unsupported: noProxiesSupportThis, norDoAnyProxiesSupportThis" in reply


def test_malformed_responses_and_foreign_responses_are_dropped(torture):
    # bigcode/scalarlg are malformed responses; the others are responses whose Via is not
    # ours (bcast names 255.255.255.255): a proxy drops them and sends nothing anywhere
    for name in ("invalid/bigcode", "invalid/scalarlg", "valid/noreason", "valid/unreason",
                 "valid/bcast"):  # fmt: skip
        assert torture["results"][name] == [], name


def test_valid_requests_are_routed_not_refused(torture):
    for name, replies in torture["results"].items():
        if name.startswith("valid/") and replies:
            assert _status(replies[0]) != 400, (name, replies[0])
