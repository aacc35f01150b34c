"""Route scripts shipped with kamtool (KEMI Python, ``import KSR``).

``default.py`` is the route ``kamtool serve`` runs when none is configured.
"""

from __future__ import annotations

from pathlib import Path

from kamtool.proxy.ksr import ensure_installed

DEFAULT_ROUTE = str(Path(__file__).with_name("default.py"))

# the scripts here ``import KSR``: importing one outside the proxy (a layering test that
# walks every module, pydoc) finds kamtool's KSR too
ensure_installed()
