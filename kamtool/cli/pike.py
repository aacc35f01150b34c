"""`kamtool pike ...`."""

from __future__ import annotations

import typer

NAME = "pike"
app = typer.Typer(name=NAME, help="pike", no_args_is_help=True)
