"""The app the snapshot tests photograph: captured answers, frozen clock, warm sparklines."""

from __future__ import annotations

from tests.tui import scenes
from tests.tui.fake import make_app, prime_traffic, settle


def snapshot_case(*keys: str, server_down: bool = False, scene: str | None = None,
                  events: bool = False):  # fmt: skip
    """``(app, run_before)`` for ``snap_compare``: warm up, then press ``keys``.

    ``server_down``: after the first answers, the server stops answering. ``scene``:
    "busy" or "idle" (:mod:`tests.tui.scenes`) instead of the captures as they are.
    ``events``: a second poll 2 s later, after :func:`scenes.change`.
    """
    app, source, clock = make_app()
    if scene is not None:
        getattr(scenes, scene)(source)
    prime_traffic(app, source, clock)
    source.client.calls.clear()

    async def run_before(pilot) -> None:
        await settle(pilot)
        if events:
            scenes.change(source)
            clock.now += 2.0
            pilot.app.poll_all()
            await settle(pilot)
        if server_down:
            source.client.down = True
            pilot.app.poll_all()
            await settle(pilot)
        if keys:
            await pilot.press(*keys)
        await settle(pilot)

    return app, run_before
