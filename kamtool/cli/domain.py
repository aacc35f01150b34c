"""`kamtool domain ...`."""

from __future__ import annotations

import typer

NAME = "domain"
app = typer.Typer(name=NAME, help="domain", no_args_is_help=True)
