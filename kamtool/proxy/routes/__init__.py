"""Route scripts shipped with kamtool (KEMI Python, ``import KSR``).

``default.py`` is the route ``kamtool serve`` runs when none is configured.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_ROUTE = str(Path(__file__).with_name("default.py"))
