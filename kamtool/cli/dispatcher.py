"""`kamtool dispatcher ...`."""

from __future__ import annotations

import typer

NAME = "dispatcher"
app = typer.Typer(name=NAME, help="dispatcher", no_args_is_help=True)
