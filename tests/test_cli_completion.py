"""Shell completion (issue 13, item 4): `kamtool --show-completion` / `--install-completion`
for bash, zsh and fish, completing commands, options and, from a running `kamtool serve`
and its database, RPC method names, statistics, hash tables and dispatcher sets. The
shells themselves run the scripts (bash and fish complete for real; zsh needs a terminal
for that, so its script is syntax-checked and its protocol driven directly)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.require import unavailable

REPO = Path(__file__).resolve().parents[1]


def shell(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (scripts/test apt-installs it)")
    return path


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """A PATH whose ``kamtool`` runs this checkout, and a HOME of our own."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "kamtool"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kamtool "$@"\n')
    wrapper.chmod(0o755)
    e = {k: v for k, v in os.environ.items() if not k.startswith(("KAMTOOL_", "_KAMTOOL"))}
    e.update(
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        PYTHONPATH=str(REPO),
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "home/.config"),
        XDG_DATA_HOME=str(tmp_path / "home/.local/share"),
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
    )
    return e  # tmp_path/home exists already (the autouse _isolated_config fixture)


def run(args: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, **kw)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """kamtool serve with the demo rows (dispatcher set 1 with two destinations)."""
    with KamtoolProxy(tmp_path_factory.mktemp("completion")) as p:
        yield p


def bash_complete(env: dict[str, str], words: list[str]) -> list[str]:
    """What bash offers for the last of ``words`` (empty string: a new word)."""
    script = textwrap.dedent(
        """
        source <(kamtool --show-completion bash)
        COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
        _kamtool_completion kamtool  # bash passes the command name
        printf '%s\\n' "${COMPREPLY[@]}"
        """
    )
    proc = run([shell("bash"), "-c", script, "bash", *words], env)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def test_bash_completes_commands_options_and_values(env, server):
    assert bash_complete(env, ["kamtool", "disp"]) == ["dispatcher"]
    assert "rmset" in bash_complete(env, ["kamtool", "dispatcher", ""])
    assert "--max-calls-per-caller" in bash_complete(env, ["kamtool", "serve", "--max-c"])
    db, rpc = ["--db", server.db_url], ["--rpc", server.rpc_http_url]
    assert bash_complete(env, ["kamtool", *db, "dispatcher", "rmset", ""]) == ["1"]
    ids = bash_complete(env, ["kamtool", *db, "dispatcher", "rm", ""])
    assert len(ids) == 2 and all(i.isdigit() for i in ids)
    methods = bash_complete(env, ["kamtool", *rpc, "rpc", "dispatcher."])
    assert "dispatcher.list" in methods and "dispatcher.reload" in methods
    assert all(m.startswith("dispatcher.") for m in methods)
    assert "ipban" in bash_complete(env, ["kamtool", *rpc, "htable", "dump", ""])
    assert "tmx:" in bash_complete(env, ["kamtool", *rpc, "stats", "tm"])
    groups = bash_complete(env, ["kamtool", "dbctl", "create", "--group", ""])
    assert groups == ["standard", "presence", "extra"]


def test_values_are_quietly_absent_without_server_or_database(env, tmp_path):
    missing = "sqlite:///" + str(tmp_path / "none.sqlite")
    assert bash_complete(env, ["kamtool", "--db", missing, "dispatcher", "rmset", ""]) == []
    assert not (tmp_path / "none.sqlite").exists()  # a completion creates nothing
    from tests.support.ports import free_port

    dead = f"http://127.0.0.1:{free_port()}/RPC"
    assert bash_complete(env, ["kamtool", "--rpc", dead, "rpc", "core."]) == []


def test_fish_completes_for_real(env, server):
    fish = shell("fish")
    rpc = f"--rpc {server.rpc_http_url}"
    code = (
        "kamtool --show-completion fish | source; "
        f"complete -C 'kamtool {rpc} rpc core.upt'; complete -C 'kamtool dispatcher rm'"
    )
    proc = run([fish, "--no-config", "-c", code], env)
    assert proc.returncode == 0, proc.stderr
    first = [line.split("\t")[0] for line in proc.stdout.splitlines()]
    assert "core.uptime" in first and "rmset" in first


def test_zsh_script_parses_and_its_protocol_answers(env, server):
    zsh = shell("zsh")
    script = run(["kamtool", "--show-completion", "zsh"], env)
    assert script.returncode == 0 and "#compdef kamtool" in script.stdout
    check = run([zsh, "-n"], env, input=script.stdout)
    assert check.returncode == 0, check.stderr
    line = f"kamtool --rpc {server.rpc_http_url} rpc core.ver"
    ask = dict(env, _KAMTOOL_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS=line)
    answer = run(["kamtool"], ask)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.startswith("_arguments") and '"core.version"' in answer.stdout


@pytest.mark.parametrize(
    ("name", "files"),
    [
        ("bash", [".bash_completions/kamtool.sh", ".bashrc"]),
        ("zsh", [".zfunc/_kamtool", ".zshrc"]),
        ("fish", [".config/fish/completions/kamtool.fish"]),
    ],
)
def test_install_completion_writes_where_the_shell_reads(env, name, files):
    r = run(["kamtool", "--install-completion", name], env)
    assert r.returncode == 0, r.stderr
    assert f"{name} completion installed" in r.stderr
    home = Path(env["HOME"])
    for f in files:
        assert (home / f).is_file(), f
    assert "_KAMTOOL_COMPLETE" in (home / files[0]).read_text()


def test_bare_flags_use_the_running_shell_and_unknown_shells_exit_2(env):
    bare = run(
        ["kamtool", "--show-completion"], dict(env, SHELL="/bin/bash"), stdin=subprocess.DEVNULL
    )
    assert bare.returncode == 0 and "_kamtool_completion" in bare.stdout
    tcsh = run(["kamtool", "--show-completion", "tcsh"], env)
    assert tcsh.returncode == 2 and "not supported" in tcsh.stderr


def test_help_loads_no_completion_machinery():
    """Typer imports its own completion modules anyway; kamtool's completers (and what
    they import: the RPC client, the database layer) stay out of `kamtool --help`."""
    code = (
        "import sys, json, contextlib, io\n"
        "from kamtool.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    modules = json.loads(proc.stdout)
    heavy = ("kamtool.cli.completion", "kamtool.rpc", "kamtool.db", "httpx", "peewee")
    assert [m for m in modules if m.startswith(heavy)] == []
