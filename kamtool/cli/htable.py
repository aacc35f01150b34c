"""`kamtool htable ...`."""

from __future__ import annotations

import typer

NAME = "htable"
app = typer.Typer(name=NAME, help="htable", no_args_is_help=True)
