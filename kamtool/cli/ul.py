"""`kamtool ul ...`."""

from __future__ import annotations

import typer

NAME = "ul"
app = typer.Typer(name=NAME, help="ul", no_args_is_help=True)
