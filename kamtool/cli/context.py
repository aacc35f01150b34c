"""The per-invocation state that the root callback builds and commands read."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from kamtool.cli.output import Output
from kamtool.config import Settings


@dataclass
class AppContext:
    """Settings after every source was merged, and the renderer for this run."""

    settings: Settings
    out: Output


_current: ContextVar[AppContext] = ContextVar("kamtool_app_context")


def set_current(ctx: AppContext) -> None:
    _current.set(ctx)


def current() -> AppContext:
    """The context of the running command (set by the root callback)."""
    try:
        return _current.get()
    except LookupError:  # a command called without the root callback (unit tests)
        from kamtool.config import load_settings

        ctx = AppContext(settings=load_settings(), out=Output())
        _current.set(ctx)
        return ctx


def out() -> Output:
    """Shortcut for ``current().out``."""
    return current().out


def settings() -> Settings:
    """Shortcut for ``current().settings``."""
    return current().settings
