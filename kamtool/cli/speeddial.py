"""`kamtool speeddial ...`: short numbers per user (speeddial module; kamctl speeddial)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision

NAME = "speeddial"
app = typer.Typer(name=NAME, help="Speed dials of users (speed_dial table).", no_args_is_help=True)

COLUMNS = ["id", "username", "domain", "sd_username", "sd_domain", "new_uri", "description"]


def _arg(help: str):
    return typer.Argument(help=help, show_default=False)


@app.command("add")
def add(
    owner: Annotated[str, _arg("The user: user[@domain].")],
    short: Annotated[str, _arg("The short number: number[@domain].")],
    new_uri: Annotated[str, _arg("Where it leads: sip:user@host.")],
    description: Annotated[str | None, _arg("Free text.")] = None,
) -> None:
    """Add a speed dial (kamctl speeddial add OWNER SHORT URI [DESCRIPTION])."""
    from kamtool.core import speeddial

    who = provision.user(owner, "owner")
    number = provision.user(f"{short}@{who.domain}" if "@" not in short else short, "number")
    provision.edit(speeddial.add, who, number, new_uri, description or "", no_reload=True)


@app.command("rm")
def rm(
    owner: Annotated[str, _arg("The user: user[@domain].")],
    short: Annotated[str, _arg("The short number.")],
) -> None:
    """Remove a speed dial."""
    from kamtool.core import speeddial

    who = provision.user(owner, "owner")
    number = provision.user(f"{short}@{who.domain}" if "@" not in short else short, "number")
    provision.edit(speeddial.remove, who, number, no_reload=True)


@app.command("show")
def show(owner: Annotated[str | None, _arg("Only this user's.")] = None) -> None:
    """List speed dials (kamctl speeddial list/show)."""
    from kamtool.core import speeddial

    who = provision.user(owner, "owner") if owner else None
    provision.listing(speeddial.show, who, columns=COLUMNS, empty="no speed dials")


# kamctl's spelling, hidden from the help: `kamctl speeddial list [OWNER]`
app.command("list", hidden=True)(show)
