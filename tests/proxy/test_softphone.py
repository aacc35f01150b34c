"""A real softphone stack: two headless baresip UAs register with digest auth and call each
other through the proxy; ending the dialog on request hangs up both phones."""

from __future__ import annotations

import shutil
import socket
import subprocess

from tests.proxy.conftest import USERS
from tests.proxy.harness import wait_for
from tests.support.require import unavailable

CONFIG = """poll_method\tepoll
sip_listen\t127.0.0.1:{port}
rtp_ports\t50000-59998
audio_player\taubridge,{name}
audio_source\taubridge,{name}src
audio_alert\taubridge,{name}
module_path\t/usr/lib/baresip/modules
module\tg711.so
module\taubridge.so
module\tmenu.so
module_app\taccount.so
"""


def _port_pair() -> int:
    """A port p with p and p+1 free (baresip puts TLS on sip_listen's port + 1)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            for p in (port, port + 1):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as t:
                        t.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair")


def _phone(tmp_path, user: str, proxy_port: int, *commands: str) -> tuple[subprocess.Popen, object]:
    home = tmp_path / f"baresip-{user}"
    home.mkdir()
    (home / "config").write_text(CONFIG.format(port=_port_pair(), name=f"dev{user}"))
    (home / "accounts").write_text(
        f"<sip:{user}@127.0.0.1:{proxy_port}>;auth_pass={USERS[user]};regint=600;answermode=auto\n"
    )
    log = home / "out.log"
    args = ["baresip", "-f", str(home), "-t", "60"]
    for c in commands:
        args += ["-e", c]
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    return proc, log


def test_two_baresip_phones_register_and_call_through_the_proxy(proxy, tmp_path):
    if shutil.which("baresip") is None:
        unavailable("baresip is not installed (apt-get install baresip-core)")
    usrloc, dialogs = proxy.server.usrloc, proxy.server.dialogs
    callee, callee_log = _phone(tmp_path, "1002", proxy.port)
    caller = None
    try:
        assert wait_for(lambda: proxy.call(lambda: usrloc.lookup("1002")) != [], 15), (
            callee_log.read_text()
        )
        caller, caller_log = _phone(
            tmp_path, "1001", proxy.port, f"/dial sip:1002@127.0.0.1:{proxy.port}"
        )
        assert wait_for(lambda: [d.state for d in proxy.call(dialogs.dialogs)] == [4], 15), (
            caller_log.read_text()[-2000:]
        )
        (d,) = proxy.call(dialogs.dialogs)
        assert d.caller.contact.startswith("sip:1001-") and d.callee.contact.startswith("sip:1002-")
        assert proxy.call(lambda: dialogs.end(d.h_entry, d.h_id)) is True
        for log in (caller_log, callee_log):  # both phones got our BYE and hung up
            # baresip reports a received BYE as "session closed: Connection reset by peer"
            assert wait_for(lambda log=log: "session closed" in log.read_text(), 15), (
                log.read_text()
            )
    finally:
        for p in (caller, callee):
            if p is not None:
                p.terminate()
                p.wait(10)
    assert proxy.stat("dialog:processed_dialogs") == 1
    assert proxy.stat("registrar:accepted_regs") >= 2  # + unregistrations at exit
