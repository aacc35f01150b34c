"""A skip is a failure in CI (tests/conftest.py, tests/support/require.py): the suite there
has every prerequisite, so a test skipped by a marker or ``importorskip`` must not pass
silently; off CI it still skips, with its reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPING = """
import pytest

@pytest.mark.skip(reason="a marker")
def test_marked():
    pass

def test_importorskip():
    pytest.importorskip("no_such_module_here")

@pytest.mark.xfail(reason="expected to fail", strict=True)
def test_xfail():
    raise AssertionError
"""


def run(tmp_path: Path, ci: bool) -> str:
    path = tmp_path / "test_skipping.py"
    path.write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-q", "-rA",
         "-p", "no:cacheprovider", "-p", "no:randomly", str(path)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    return res.stdout


def test_skips_fail_in_ci_and_skip_elsewhere(tmp_path):
    ci = run(tmp_path, ci=True)
    # the marker's skip comes in set-up: an error; importorskip's in the call: a failure
    assert "1 failed, 1 xfailed, 1 error" in ci, ci
    assert "skipped in CI, where every prerequisite is installed" in ci
    local = run(tmp_path, ci=False)
    assert "2 skipped, 1 xfailed" in local, local
