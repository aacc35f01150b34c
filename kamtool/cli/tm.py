"""`kamtool tm ...`."""

from __future__ import annotations

import typer

NAME = "tm"
app = typer.Typer(name=NAME, help="tm", no_args_is_help=True)
