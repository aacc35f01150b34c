"""`kamtool avp ...`: user preferences (avpops' usr_preferences table; kamctl avp)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.context import settings

NAME = "avp"
app = typer.Typer(
    name=NAME, help="User preferences loaded as AVPs (usr_preferences table).",
    no_args_is_help=True,
)  # fmt: skip

COLUMNS = ["id", "uuid", "username", "domain", "attribute", "type", "value", "last_modified"]
UserOption = Annotated[
    str | None, typer.Option("--user", "-u", help="user@domain, or a uuid.", show_default=False)
]
AttrOption = Annotated[str | None, typer.Option("--attr", "-a", help="Attribute name.")]
ValueOption = Annotated[str | None, typer.Option("--value", "-v", help="Value.")]
TypeOption = Annotated[str | None, typer.Option("--type", "-t", help="Type 0-3.")]


def _who(spec: str | None):
    from kamtool.core.preferences import owner

    return owner(spec, settings().sip_domain) if spec is not None else None


@app.command("add")
def add(
    who: Annotated[str, typer.Argument(help="user@domain, or a uuid.", show_default=False)],
    attribute: Annotated[str, typer.Argument(help="Attribute name.", show_default=False)],
    kind: Annotated[
        str,
        typer.Argument(
            metavar="TYPE", help="0 str=str, 1 str=int, 2 int=str, 3 int=int.", show_default=False
        ),
    ],
    value: Annotated[str, typer.Argument(help="Value.", show_default=False)],
) -> None:
    """Add a preference (kamctl avp add ID ATTRIBUTE TYPE VALUE)."""
    from kamtool.core import preferences

    provision.edit(preferences.add, _who(who), attribute, kind, value, no_reload=True)


@app.command("rm")
def rm(
    user: UserOption = None, attr: AttrOption = None, value: ValueOption = None,
    kind: TypeOption = None,
) -> None:  # fmt: skip
    """Remove the preferences matching every filter given (kamctl avp rm)."""
    from kamtool.core import preferences

    provision.edit(preferences.remove, _who(user), attr, value, kind, no_reload=True)


@app.command("list")
def list_(
    user: UserOption = None, attr: AttrOption = None, value: ValueOption = None,
    kind: TypeOption = None,
) -> None:  # fmt: skip
    """List preferences matching the filters (kamctl avp list)."""
    from kamtool.core import preferences

    provision.listing(
        preferences.show, _who(user), attr, value, kind, columns=COLUMNS, empty="no preferences"
    )
