"""Help pages a first user reads at 80 columns (issue 13): every option name whole, usage
lines in kamctl's form (``GRP IP [MASK]``, not Typer's ``{grp} {ip}``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def kamtool_help(*args: str, columns: int = 80) -> str:
    env = dict(os.environ, COLUMNS=str(columns), TERMINAL_WIDTH=str(columns))
    env.pop("KAMTOOL_JSON", None)
    proc = subprocess.run(
        [sys.executable, "-m", "kamtool", *args, "--help"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_serve_help_at_80_columns_keeps_every_option_name():
    from kamtool.cli.lazy import load_module_commands

    serve = load_module_commands("kamtool.cli.serve", "serve").commands["serve"]
    names = [opt for p in serve.params for opt in (*p.opts, *p.secondary_opts)]
    assert "--max-calls-per-caller" in names and len(names) > 20
    page = kamtool_help("serve")
    assert "…" not in page
    words = set(page.replace("│", " ").replace(",", " ").split())
    assert [n for n in names if n not in words] == []


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (["address", "add"], "kamtool address add [OPTIONS] GRP IP [MASK] [PORT] [TAG]"),
        (["alias", "add"], "kamtool alias add [OPTIONS] ALIAS USER"),
        (["dispatcher", "rm"], "kamtool dispatcher rm [OPTIONS] ID"),
        (["ul", "add"], "kamtool ul add [OPTIONS] AOR CONTACT"),
        (["stats"], "kamtool stats [OPTIONS] [SELECTORS]..."),
    ],
)
def test_usage_lines_name_the_arguments(command, usage):
    page = kamtool_help(*command)
    assert usage in page
    assert "{" not in page.split("\n\n")[0] + page.splitlines()[1]


def test_a_usage_error_shows_the_same_usage():
    env = dict(os.environ, COLUMNS="80")
    proc = subprocess.run(
        [sys.executable, "-m", "kamtool", "address", "add"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "{grp}" not in proc.stderr + proc.stdout
