"""Help pages are drawn by Typer's rich renderer without rich's markdown and traceback
modules (kamtool.cli.richhelp), and look exactly as with them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("rich.markdown", "rich.traceback", "rich.syntax", "pygments", "markdown_it")


def run_help(args: list[str], *, preload_real: bool) -> tuple[str, list[str]]:
    """stdout of ``kamtool ARGS`` in a new interpreter, and the heavy modules it loaded.

    ``preload_real`` imports rich.markdown and rich.traceback first, so Typer's renderer
    is built from the real modules: the reference rendering.
    """
    code = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        if {preload_real!r}:
            import rich.markdown, rich.traceback
        from kamtool.cli.main import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main({args!r})
        heavy = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))
        print(json.dumps({{"status": status, "out": out.getvalue(), "heavy": heavy}}))
        """
    )
    env = dict(os.environ, COLUMNS="100", TERMINAL_WIDTH="100")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] in (0, 2), result  # 2: help shown because arguments were missing
    return result["out"], result["heavy"]


@pytest.mark.parametrize("args", [["--help"], [], ["add", "--help"], ["dbctl", "create", "-h"]])
def test_help_is_the_same_without_the_heavy_modules(args):
    light, loaded = run_help(args, preload_real=False)
    reference, _ = run_help(args, preload_real=True)
    assert loaded == []
    assert "Usage: kamtool" in light
    assert light == reference


def test_the_stand_ins_hand_over_to_the_real_classes():
    code = textwrap.dedent(
        """
        import json, sys
        from kamtool.cli.richhelp import load_help_renderer
        load_help_renderer()
        import typer.rich_utils as ru
        leaked = [m for m in ("rich.markdown", "rich.traceback") if m in sys.modules]
        import rich.markdown, rich.traceback
        try:
            raise ValueError("x")
        except ValueError as exc:
            tb = ru.Traceback.from_exception(type(exc), exc, exc.__traceback__)
        print(json.dumps({
            "leaked": leaked,
            "markdown": type(ru.Markdown("*x*")) is rich.markdown.Markdown,
            "traceback": type(tb) is rich.traceback.Traceback,
            "real_module": rich.markdown.Markdown.__module__,
        }))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "leaked": [],
        "markdown": True,
        "traceback": True,
        "real_module": "rich.markdown",
    }
