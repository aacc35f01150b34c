"""sipsak, used the way an outside tester would, over UDP and TCP against a real Kamailio 5.6
and ``kamtool serve``: a plain OPTIONS, usrloc mode (-U) with a password, traceroute (-T)
to a registered user. The replies sipsak prints with -vv are parsed and compared.

Left out: sipsak 0.9.8.1 as packaged here cannot run its -M (message) and -I (invite)
modes at all: -M dies with SIGSEGV before sending (sprintf into a NULL buffer while
building the request) and -U -I exits with status 2 without sending anything, against
either server. MESSAGE and calls to registered users are covered by test_odd_requests.py
and test_sipp.py instead."""

from __future__ import annotations

import re
import subprocess
import threading

import pytest

from tests.interop.conftest import TRANSPORTS
from tests.interop.test_odd_requests import registered_uas
from tests.interop.wire import Msg, parse

pytestmark = pytest.mark.parametrize("transport", TRANSPORTS)


def sipsak(transport: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sipsak", "-E", transport, *args],
                          capture_output=True, text=True, timeout=30)  # fmt: skip


def replies(out: str) -> list[Msg]:
    """The replies sipsak -vv printed (each starts with a status line)."""
    found = []
    out = out.replace("\r\n", "\n")
    for m in re.finditer(r"^SIP/2\.0 \d{3} .*?(?=\n\n|\Z)", out, re.M | re.S):
        found.append(parse(m.group(0).replace("\n", "\r\n").encode()))
    return found


def test_options_to_the_server(target, transport):
    res = sipsak(transport, "-vv", "-s", f"sip:127.0.0.1:{target.sip_port}")
    assert res.returncode == 0, res.stdout + res.stderr
    (reply,) = replies(res.stdout)
    assert (reply.status, reply.reason) == (200, "Keepalive")
    via = reply.get("via")
    assert re.search(r";rport=\d+", via) and "received=127.0.0.1" in via
    assert ";tag=" in reply.get("to")
    # see test_odd_requests.assert_local_reply: kamtool's server_signature is off
    assert bool(reply.get("server")) == (target.name == "kamailio")


def test_usrloc_mode_registers_with_the_password_and_fails_without(target, transport):
    uri = f"sip:1001@127.0.0.1:{target.sip_port}"
    ok = sipsak(transport, "-U", "-vv", "-s", uri, "-a", "secret1001")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "All usrloc tests completed successful" in ok.stdout
    bad = sipsak(transport, "-U", "-vv", "-s", uri, "-a", "wrong")
    assert bad.returncode == 2 and "authorization failed" in bad.stdout + bad.stderr
    challenge = [r for r in replies(bad.stdout + bad.stderr) if r.status == 401]
    assert challenge and 'realm="127.0.0.1"' in challenge[-1].get("www-authenticate")


def test_register_a_contact_then_it_is_in_the_location_table(target, transport):
    contact = "sip:1003@127.0.0.1:7001"
    res = sipsak(transport, "-U", "-C", contact, "-s", f"sip:1003@127.0.0.1:{target.sip_port}",
                 "-a", "secret1003", "-x", "600", "-vvv")  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    final = replies(res.stdout + res.stderr)[-1]
    assert final.status == 200
    assert any(c.startswith(f"<{contact}>") and "expires=" in c for c in final.all("contact")), (
        final
    )
    rows = target.rpc("ul.lookup", "location", "1003")["Contacts"]
    assert [c["Contact"]["Address"] for c in rows] == [contact]
    sipsak(transport, "-U", "-C", contact, "-s", f"sip:1003@127.0.0.1:{target.sip_port}",
           "-a", "secret1003", "-x", "0")  # fmt: skip


def test_traceroute_to_a_registered_user(target, transport):
    """Max-Forwards 0: the server's 483; Max-Forwards 1: relayed with 0, the UA answers."""
    with registered_uas(target, transport) as uas:
        got: list[Msg] = []

        def answer() -> None:
            req = uas.recv()
            got.append(req)
            uas.reply_to(req, 200, "OK")

        t = threading.Thread(target=answer)
        t.start()
        res = sipsak(transport, "-T", "-s", f"sip:1002@127.0.0.1:{target.sip_port}")
        t.join()
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"^0: .*SIP/2\.0 483 Too Many Hops", res.stdout, re.M)
    # (sipsak numbers every hop 0 when it finds no Warning header to read)
    assert re.search(r"^\d: .*SIP/2\.0 200 OK", res.stdout, re.M), res.stdout
    (req,) = got
    assert req.method == "OPTIONS" and req.get("max-forwards") == "0"
