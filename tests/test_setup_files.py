"""What a user sets kamtool up with (issue 13, item 8): uvloop installed by default on
Linux, `kamtool config example` with every [proxy] key, the systemd unit in contrib/,
and `kamtool --version` naming Python and the event loop."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import fields
from pathlib import Path

from kamtool.config import Settings
from kamtool.proxy.config import ProxyConfig, proxy_config
from tests.support.cli import invoke
from tests.support.ports import free_port
from tests.support.require import unavailable

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "contrib" / "kamtool.service"


def uncommented_proxy_section(text: str) -> str:
    """The example's [proxy] section with every ``# key = value`` line switched on."""
    head, _, body = text.partition("[proxy]\n")
    assert body, "no [proxy] section"
    lines = []
    for line in body.splitlines():
        if line.startswith("# ") and " = " in line and line[2:].split(" = ")[0].isidentifier():
            lines.append(line[2:])
    return "[proxy]\n" + "\n".join(lines) + "\n"


def test_uvloop_is_a_default_dependency_on_linux():
    from packaging.requirements import Requirement

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    [uvloop] = [Requirement(d) for d in deps if Requirement(d).name == "uvloop"]
    assert uvloop.marker is not None
    assert uvloop.marker.evaluate({"sys_platform": "linux"})
    assert not uvloop.marker.evaluate({"sys_platform": "win32"})  # uvloop has no Windows build


def test_version_names_python_and_the_event_loop():
    r = invoke("--version")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[1] == "Python {}.{}.{} (CPython)".format(*sys.version_info[:3])
    import uvloop  # installed with kamtool on Linux (the test above)

    assert lines[2] == f"event loop: uvloop {uvloop.__version__}"


def test_config_example_has_every_proxy_key_with_its_default():
    r = invoke("config", "example")
    assert r.exit_code == 0, r.stderr
    tomllib.loads(r.stdout)  # valid TOML as printed (everything commented out)
    section = tomllib.loads(uncommented_proxy_section(r.stdout))["proxy"]
    keys = [f.name for f in fields(ProxyConfig)]
    assert sorted(section) == sorted(keys)
    from kamtool.cli.config_example import DESCRIPTIONS

    assert [k for k in keys if k not in DESCRIPTIONS] == []  # each one explained
    # the values load as they are: defaults, or an example where the default is "not set"
    defaults = ProxyConfig()
    cfg = proxy_config(Settings(db_url="sqlite:////tmp/x.sqlite", sections={"proxy": section}))
    from kamtool.cli.config_example import PLACEHOLDERS

    for key in keys:
        if key not in PLACEHOLDERS:
            assert getattr(cfg, key) == getattr(defaults, key), key
    assert invoke("--json", "config", "example").json()["toml"] == r.stdout


def test_systemd_unit_verifies_and_its_environment_is_what_it_says(tmp_path):
    """systemd-analyze accepts the unit; its ExecStart, run with its Environment (the
    directories moved under tmp_path), puts the database and the RPC FIFO where the unit's
    comments say, and stops cleanly on its KillSignal within TimeoutStopSec."""
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    exec_start = shlex.split(service["ExecStart"])
    assert exec_start[0].endswith("/kamtool") and exec_start[1:] == ["serve"]
    assert service["KillSignal"] == "SIGTERM" and service["RuntimeDirectory"] == "kamtool"

    analyze = shutil.which("systemd-analyze")
    kamtool_bin = shutil.which("kamtool")
    if analyze is None or kamtool_bin is None:
        unavailable("systemd-analyze (package systemd) or the kamtool command is not installed")
    local = tmp_path / "kamtool.service"
    local.write_text(UNIT.read_text().replace(exec_start[0], kamtool_bin))
    verify = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr

    env = {k: v for k, v in os.environ.items() if not k.startswith("KAMTOOL_")}
    env["HOME"] = str(tmp_path / "home")
    for item in shlex.split(service["Environment"]):
        name, _, value = item.partition("=")
        env[name] = str(tmp_path) + value if value.startswith("/") else value
    (tmp_path / "run" / "kamtool").mkdir(parents=True)  # RuntimeDirectory
    (tmp_path / "var/lib" / "kamtool").mkdir(parents=True)  # StateDirectory
    sip, rpc = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kamtool", "serve", "--listen", f"udp:127.0.0.1:{sip}",
         "--rpc-listen", f"127.0.0.1:{rpc}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", rpc), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert (tmp_path / "var/lib/kamtool/kamailio.sqlite").is_file()
        assert (tmp_path / "run/kamtool/kamtool_rpc.fifo").exists()
        proc.send_signal(getattr(signal, service["KillSignal"]))
        assert proc.wait(timeout=float(service["TimeoutStopSec"])) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
