"""The app the snapshot tests photograph: captured answers, frozen clock, warm sparklines."""

from __future__ import annotations

from tests.tui.fake import make_app, settle


def snapshot_case(*keys: str):
    """``(app, run_before)`` for ``snap_compare``: warm up, then press ``keys``."""
    app, _, _ = make_app(primed=True)

    async def run_before(pilot) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
        await settle(pilot)

    return app, run_before
