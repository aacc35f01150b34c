"""``kamtool shell`` through a pseudo-terminal (pexpect): the instance in the prompt,
completion of commands, sub-commands and RPC method names from the server's
system.listMethods, commands run end to end against kamtool's proxy, ``use``, ``help``,
and the history kept across sessions."""

from __future__ import annotations

import sys

import pytest

from tests.support.kamtool_proxy import isolated_env
from tests.support.require import unavailable

PROMPT = r"kamtool\[edge1\]>"  # the space after it is drawn as a cursor move


@pytest.fixture
def spawn(proxy, tmp_path):
    try:
        import pexpect
    except ImportError:
        unavailable("pexpect is not installed (pip install pexpect)")
    conf = tmp_path / "kamtool.toml"
    conf.write_text(f'[instance.edge1]\nrpc_url = "{proxy.rpc_http_url}"\n')
    env = {**isolated_env(tmp_path / "home"), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1",
           "PYTHONPATH": ":".join(sys.path)}  # fmt: skip
    children = []

    def start():
        child = pexpect.spawn(
            sys.executable, ["-m", "kamtool", "--config", str(conf), "-i", "edge1", "shell"],
            env=env, encoding="utf-8", timeout=30, dimensions=(40, 200),
        )  # fmt: skip
        children.append(child)
        child.expect(PROMPT)
        return child

    yield start, tmp_path / "home"
    for child in children:
        child.close(force=True)


def test_completion_and_commands_end_to_end(spawn, proxy):
    import pexpect

    start, home = spawn
    child = start()
    # an RPC method name, completed from the server's system.listMethods
    child.send("rpc core.upt\t")
    # wait until the completion is drawn (it runs asynchronously): only the inserted rest
    # of the word is written, between escape sequences
    child.expect("ime")
    child.send("\r")
    child.expect('"up_since"')
    child.expect(PROMPT)
    # a command, a sub-command and its argument
    child.send("ver\t")
    child.expect("sion")
    child.send("\r")
    child.expect(r"kamtool \d")  # core.version of kamtool's proxy
    child.expect(PROMPT)
    child.send("srv rpch\t")
    child.expect("elp")
    child.send(" pv.shvS\t")
    child.expect("et")
    child.send("\r")
    child.expect(r"Set \$shv\(name\) value\.")
    child.expect(PROMPT)
    # an error keeps the shell and shows the exit status
    child.sendline("srv rpchelp no.such")
    child.expect(r"\[exit 3\]")
    child.expect(PROMPT)
    child.sendline("help")
    child.expect("Shell: help")
    child.sendline("use default")
    child.expect("kamtool>")
    child.sendeof()
    child.expect(pexpect.EOF)
    history = (home / ".local/share/kamtool/shell_history").read_text()
    assert "+rpc core.uptime" in history and "+srv rpchelp pv.shvSet" in history


def test_history_survives_the_session(spawn):
    start, _ = spawn
    child = start()
    child.sendline("srv runinfo")
    child.expect("uptime_secs")
    child.expect(PROMPT)
    child.sendeof()
    child.expect("\n")
    child = start()
    child.send("\x1b[A")  # Up: the last line of the last session
    child.send("\r")
    child.expect("uptime_secs")
    child.expect(PROMPT)


def test_without_a_terminal_the_lines_of_stdin_run(proxy):
    from tests.support.cli import invoke

    script = "# a comment\nsrv runinfo\nuse nowhere\nsrv rpchelp no.such\n"
    r = invoke("--json", "--rpc", proxy.rpc_http_url, "shell", stdin=script)
    assert '"uptime_secs"' in r.stdout
    assert "no [instance.nowhere]" in r.stderr and "[exit 3]" in r.stderr
    assert r.exit_code == 3  # the status of the last line
    r = invoke("--rpc", proxy.rpc_http_url, "shell", stdin="srv modules\nexit\nsrv nope\n")
    assert r.exit_code == 0 and "kamtool" in r.stdout.split()
