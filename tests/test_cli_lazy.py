"""The lazily loaded command table agrees with the command modules."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer import _click

from kamtool.cli.lazy import COMMANDS, load_module_commands

MODULES = sorted({module for module, _ in COMMANDS.values()})


@pytest.mark.parametrize("module", MODULES)
def test_every_command_a_module_defines_is_listed_with_its_own_help(module):
    group = load_module_commands(module)
    ctx = _click.Context(group)
    defined = set(group.list_commands(ctx))
    listed = {name for name, (mod, _) in COMMANDS.items() if mod == module}
    assert defined == listed
    for name in defined:
        real = group.get_command(ctx, name).get_short_help_str(500)
        assert real == COMMANDS[name][1], f"help of {name!r} differs from kamtool.cli.lazy"


def test_help_imports_no_command_module():
    code = (
        "import sys\n"
        "from kamtool.cli.main import main\n"
        "main(['--help'])\n"
        "sys.stdout.flush()\n"
        "heavy = ('kamtool.db', 'kamtool.rpc', 'kamtool.proxy', 'kamtool.sip', 'peewee', 'httpx')\n"
        "loaded = [m for m in sys.modules if m.startswith(heavy) or m in "
        f"{MODULES!r}]\n"
        "sys.stderr.write(','.join(loaded))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stderr.strip() == ""


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_can_be_built_on_its_own(name):
    """Running a command builds only that command of its module (load_module_commands(only=))."""
    module = COMMANDS[name][0]
    group = load_module_commands(module, name)
    ctx = _click.Context(group)
    assert group.list_commands(ctx) == [name]
    assert group.get_command(ctx, name).name == name
