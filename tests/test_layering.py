"""The lower layers never import the presentation libraries."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import kamtool

LOWER = ["kamtool.sip", "kamtool.db", "kamtool.core", "kamtool.rpc", "kamtool.proxy", "kamtool.ua"]
FORBIDDEN = ("typer", "rich", "textual", "click")


def _modules(package: str) -> list[str]:
    mod = __import__(package, fromlist=["__path__"])
    names = [package]
    for info in pkgutil.walk_packages(mod.__path__, prefix=package + "."):
        names.append(info.name)
    return names


@pytest.mark.parametrize("package", LOWER)
def test_lower_layers_do_not_import_ui_libraries(package):
    code = (
        "import importlib, sys\n"
        f"for name in {_modules(package)!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "", f"{package} pulls in {proc.stdout.strip()}"


def test_help_does_not_import_textual():
    code = (
        "import sys\n"
        "from kamtool.cli.main import main\n"
        "main(['--help'])\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write(','.join(m for m in sys.modules if m.split('.')[0] == 'textual'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stderr.strip() == ""


def test_version_matches_package():
    from tests.support.cli import invoke

    r = invoke("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"kamtool {kamtool.__version__}"
