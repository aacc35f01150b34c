"""`kamtool trusted ...`."""

from __future__ import annotations

import typer

NAME = "trusted"
app = typer.Typer(name=NAME, help="trusted", no_args_is_help=True)
