"""`kamtool acl ...`."""

from __future__ import annotations

import typer

NAME = "acl"
app = typer.Typer(name=NAME, help="acl", no_args_is_help=True)
