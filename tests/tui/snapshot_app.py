"""The app the snapshot tests photograph: captured answers, frozen clock, warm sparklines."""

from __future__ import annotations

from tests.tui.fake import make_app, settle


def snapshot_case(*keys: str, server_down: bool = False):
    """``(app, run_before)`` for ``snap_compare``: warm up, then press ``keys``.

    ``server_down``: after the first answers, the server stops answering.
    """
    app, source, _ = make_app(primed=True)

    async def run_before(pilot) -> None:
        await settle(pilot)
        if server_down:
            source.client.down = True
            pilot.app.poll_all()
            await settle(pilot)
        if keys:
            await pilot.press(*keys)
        await settle(pilot)

    return app, run_before
