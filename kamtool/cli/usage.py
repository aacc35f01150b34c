"""Usage lines and option metavars in kamctl's style, for every kamtool command.

Typer 0.2x writes a required argument as ``{grp}`` in usage lines
(``kamtool address add [OPTIONS] {grp} {ip} [mask]``), and an option's type as
``<int range> [x>=0]``, a column wide enough that an 80-column help page cuts the option
names (``--max-calls-per-ca…``). kamtool's usage follows kamctl's manual instead:
``GRP IP [MASK] [PORT] [TAG]``, and an option without a metavar of its own gets a short
one from its type (``N``, ``NUMBER``, ``TEXT``, ``FILE``).

:func:`apply` rewrites a command tree once it is built (``kamtool.cli.lazy`` does, for
each command module it loads).
"""

from __future__ import annotations

from typer import _click
from typer._click import types as click_types
from typer.core import TyperArgument, TyperOption


class UsageArgument(TyperArgument):
    """A Typer argument whose usage form is ``NAME``, ``[NAME]`` or ``NAME...``."""

    def make_metavar(self, ctx: _click.Context, *, usage: bool = False) -> str:
        if not usage:
            return super().make_metavar(ctx, usage=usage)
        var = (self.metavar or self.name or "").upper()
        var = var if self.required else f"[{var}]"
        return var + "..." if self.nargs != 1 else var


def _type_metavar(option: _click.Option) -> str | None:
    """A short placeholder for an option's value, by type; None keeps Typer's."""
    kind = option.type
    if isinstance(kind, click_types.IntParamType):
        return "N"
    if isinstance(kind, click_types.FloatParamType):
        return "NUMBER"
    if isinstance(kind, click_types.File) or kind.name == "path":
        return "FILE"
    if isinstance(kind, click_types.StringParamType):
        return "TEXT"
    return None  # choices and the rest: Typer's own form


def apply(command: _click.Command) -> _click.Command:
    """Give ``command`` and its sub-commands kamctl-style usage and option metavars."""
    for param in command.params:
        if isinstance(param, TyperArgument) and not isinstance(param, UsageArgument):
            param.__class__ = UsageArgument  # same state, another usage line
        elif (
            isinstance(param, TyperOption)
            and param.metavar is None
            and not param.is_flag
            and not param.count
        ):
            param.metavar = _type_metavar(param)
    for sub in getattr(command, "commands", {}).values():
        apply(sub)
    return command
