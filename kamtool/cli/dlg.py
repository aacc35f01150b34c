"""`kamtool dlg ...`."""

from __future__ import annotations

import typer

NAME = "dlg"
app = typer.Typer(name=NAME, help="dlg", no_args_is_help=True)
