"""Shared ``Annotated`` option types, so every command spells them the same way."""

from __future__ import annotations

from typing import Annotated

import typer

YesOption = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Do not ask for confirmation (required without a terminal)."),
]
NoReloadOption = Annotated[
    bool,
    typer.Option("--no-reload", help="Do not ask the running server to reload after the change."),
]
