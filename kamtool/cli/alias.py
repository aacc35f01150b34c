"""`kamtool alias ...`."""

from __future__ import annotations

import typer

NAME = "alias"
app = typer.Typer(name=NAME, help="alias", no_args_is_help=True)
