"""`kamtool dbctl ...`."""

from __future__ import annotations

import typer

NAME = "dbctl"
app = typer.Typer(name=NAME, help="dbctl", no_args_is_help=True)
