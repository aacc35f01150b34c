"""The ``[proxy] workers`` setting (``kamtool serve --workers N``, issue #17): how many
processes share the listen addresses, and how the supervisor runs them. Kept apart from
:mod:`kamtool.proxy.config`, which inherits it, so the main settings file stays small."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kamtool.errors import ConfigError

MAX_WORKERS = 64  # the owner index travels in branches and Record-Routes as 1-2 digits


def parse_workers(value: Any) -> int:
    """``workers`` as given (an int, ``"auto"`` = the CPU count, or digits) → a count;
    ConfigError for anything else."""
    if isinstance(value, bool):
        raise ConfigError(f"workers: {value!r} is not a number or 'auto'")
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return max(1, min(os.cpu_count() or 1, MAX_WORKERS))
        if not text.isdigit():
            raise ConfigError(f"workers: {value!r} is not a number or 'auto'")
        value = int(text)
    if not isinstance(value, int) or not 1 <= value <= MAX_WORKERS:
        raise ConfigError(f"workers must be between 1 and {MAX_WORKERS} (or 'auto'), not {value!r}")
    return value


@dataclass(frozen=True)
class WorkerSettings:
    # processes sharing the sockets (SO_REUSEPORT); 1: one process, no supervisor. Which
    # worker a process is travels apart (kamtool.proxy.workers.WorkerContext): it is no
    # setting a user could give
    workers: int = 1

    def check_workers(self) -> None:
        """ConfigError for a worker count that cannot work."""
        parse_workers(self.workers)
