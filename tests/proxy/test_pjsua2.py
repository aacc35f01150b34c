"""PJSIP (pjsua2) phones register, call and refresh through the default route, which
challenges with qop=auth and accepts each nonce count once (issue #12, item 3)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tests.proxy.harness import USERS
from tests.support.require import unavailable

# pyproject.toml installs pjsua2-python only where it has wheels
pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 13) or platform.machine() != "x86_64",
    reason="pjsua2-python has wheels for CPython 3.10-3.12 on x86_64 only",
)


def test_pjsua2_phones_register_call_and_refresh(proxy):
    try:
        import pjsua2  # noqa: F401
    except ImportError:
        unavailable("pjsua2 is not installed (pip install pjsua2-python)")
    script = Path(__file__).with_name("pjsua_phones.py")
    res = subprocess.run(
        [sys.executable, str(script), str(proxy.port), USERS["1001"], USERS["1002"]],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    assert lines, res.stdout[-2000:] + res.stderr[-2000:]
    seen = json.loads(lines[-1])
    assert seen["reg"] == {"1001": 200, "1002": 200}
    assert seen["call"].count("CONFIRMED") == 2  # both legs
    assert seen["refresh"] == 200  # (PJSIP asks for a new challenge: no preemptive nc=2)
    assert proxy.stat("dialog:processed_dialogs") == 1
