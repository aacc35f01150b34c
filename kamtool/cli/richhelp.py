"""Typer's rich help, without the rich modules kamtool's help never uses.

``typer.rich_utils`` (which draws every ``--help`` page) imports ``rich.markdown`` (with
markdown-it and, through ``rich.syntax``, pygments) and ``rich.traceback`` at module level:
about 40 ms, more than the rest of ``kamtool --help``. kamtool's help needs neither: its
texts are rich markup (Typer's "rich" mode, not "markdown"), and errors are rendered by
:mod:`kamtool.cli.main`, not as Typer tracebacks.

:func:`load_help_renderer` imports ``typer.rich_utils`` while those two modules are
stand-ins whose classes import the real ones when first used, then takes the stand-ins
out of ``sys.modules``: a later ``import rich.markdown`` (the monitor's) gets the real
module, and Typer still gets the real classes should it ever need them.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any

# module -> the names typer.rich_utils imports from it
_DEFERRED: dict[str, tuple[str, ...]] = {
    "rich.markdown": ("Markdown",),
    "rich.traceback": ("Traceback",),
}


class _DeferredClass(type):
    """Metaclass of a stand-in: calling it or reading an attribute (``Traceback.from_exception``)
    imports the real class and hands over to it."""

    _module: str

    def real(cls) -> Any:
        return getattr(importlib.import_module(cls._module), cls.__name__)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls.real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls.real(), name)


def _stand_in(module: str, names: tuple[str, ...]) -> types.ModuleType:
    stub = types.ModuleType(module, "stand-in while typer.rich_utils is imported")
    for name in names:
        setattr(stub, name, _DeferredClass(name, (), {"_module": module}))
    return stub


def load_help_renderer() -> None:
    """Import ``typer.rich_utils`` without rich's markdown and traceback modules.

    Does nothing when it is imported already. When Typer's module wants more from them
    than the stand-ins offer, it is left for Typer to import as usual (slower, same help).
    """
    if "typer.rich_utils" in sys.modules:
        return
    stubs = {m: _stand_in(m, names) for m, names in _DEFERRED.items() if m not in sys.modules}
    sys.modules.update(stubs)
    try:
        import typer.rich_utils  # noqa: F401
    except ImportError:  # a failed import leaves no module behind: Typer retries for real
        pass
    finally:
        for module, stub in stubs.items():
            if sys.modules.get(module) is stub:
                del sys.modules[module]


@contextlib.contextmanager
def help_on_stderr() -> Iterator[None]:
    """Within the block, group help pages go to stderr (``--json``: stdout holds one
    JSON document).

    A group called without its subcommand (``kamtool --json shm``) has Typer draw the
    group's help while it raises the usage error, before :func:`kamtool.cli.main.main`
    can answer in JSON. Typer has no switch for where that page goes, so the group's
    ``format_help`` runs with stdout sent to stderr (rich's console writes to whatever
    ``sys.stdout`` is when it prints). Nothing is imported for it: ``--json`` commands
    stay as quick to start.
    """
    from typer.core import TyperGroup

    draw = TyperGroup.format_help

    def on_stderr(self: Any, ctx: Any, formatter: Any) -> None:
        with contextlib.redirect_stdout(sys.stderr):
            draw(self, ctx, formatter)

    TyperGroup.format_help = on_stderr  # type: ignore[method-assign]
    try:
        yield
    finally:
        TyperGroup.format_help = draw  # type: ignore[method-assign]
