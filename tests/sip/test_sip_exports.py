"""kamtool.sip exports its API lazily; every exported name resolves."""

from __future__ import annotations

import subprocess
import sys

import kamtool.sip as sip


def test_every_exported_name_resolves():
    assert set(sip.__all__) == set(sip._EXPORTS)
    for name in sip.__all__:
        assert getattr(sip, name) is not None


def test_importing_digest_does_not_load_the_parser():
    code = "import sys, kamtool.sip.digest; print('kamtool.sip.parser' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
