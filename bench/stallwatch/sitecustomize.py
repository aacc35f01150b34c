"""Loaded by every Python started with this directory on PYTHONPATH (bench/loop_stalls.py):
in ``kamtool serve``, once it is started, records garbage-collector pauses and event-loop
stalls (with the stack that held the loop) and writes them to $KAMTOOL_STALLWATCH at exit.
A diagnosis aid: the heartbeat (every 5 ms) and the watchdog thread cost some CPU."""

from __future__ import annotations

import os

OUT = os.environ.get("KAMTOOL_STALLWATCH")


def _install() -> None:
    import atexit
    import gc
    import json
    import sys
    import threading
    import time
    import traceback

    import kamtool.proxy.server as server

    gc_pauses: list[tuple[int, float, int]] = []  # (generation, ms, collected)
    stalls: list[dict] = []
    state = {"beat": time.perf_counter(), "gc_start": 0.0}

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            state["gc_start"] = time.perf_counter()
        else:
            ms = (time.perf_counter() - state["gc_start"]) * 1000
            gc_pauses.append((info["generation"], ms, info["collected"]))

    def watchdog(main_id: int) -> None:
        current: dict | None = None
        written = time.monotonic()
        while True:
            time.sleep(0.002)
            if time.monotonic() - written > 1.0:  # (a server killed at exit writes nothing)
                dump()
                written = time.monotonic()
            late = time.perf_counter() - state["beat"]
            if late > 0.015:
                frame = sys._current_frames().get(main_id)
                where = traceback.format_stack(frame, limit=8) if frame else []
                where = [w.strip().split("\n")[0] for w in where]
                if current is None:
                    current = {"ms": 0.0, "stacks": []}
                    stalls.append(current)
                current["ms"] = late * 1000
                if len(current["stacks"]) < 3:
                    current["stacks"].append(where)
            else:
                current = None

    original = server.tune_gc

    def tune_gc() -> None:
        original()
        import asyncio

        loop = asyncio.get_event_loop()

        def beat() -> None:
            state["beat"] = time.perf_counter()
            loop.call_later(0.005, beat)

        beat()
        gc.callbacks.append(on_gc)
        t = threading.Thread(target=watchdog, args=(threading.get_ident(),), daemon=True)
        t.start()

    def dump() -> None:
        data = json.dumps({"gc": list(gc_pauses), "stalls": list(stalls)})
        with open(OUT + ".tmp", "w") as f:
            f.write(data)
        os.replace(OUT + ".tmp", OUT)

    server.tune_gc = tune_gc
    atexit.register(dump)


if OUT:
    try:
        _install()
    except Exception:  # a diagnosis aid never stops the program
        pass
