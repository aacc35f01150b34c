"""`kamtool address ...`."""

from __future__ import annotations

import typer

NAME = "address"
app = typer.Typer(name=NAME, help="address", no_args_is_help=True)
