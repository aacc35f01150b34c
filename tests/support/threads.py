"""Hammering one object from several threads at once (a client the monitor shares)."""

from __future__ import annotations

import threading
from collections.abc import Callable


def errors_in_threads(
    work: Callable[[], None], threads: int = 4, timeout: float = 30.0
) -> list[BaseException]:
    """Run ``work`` in ``threads`` threads at once; what they raised (empty: all went well)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported to the caller
            errors.append(exc)

    started = [threading.Thread(target=run) for _ in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join(timeout)
    assert not any(t.is_alive() for t in started), "a thread is still running"
    return errors
