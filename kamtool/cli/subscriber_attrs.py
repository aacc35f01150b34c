"""`kamtool subscriber ...`: extra columns of subscriber rows (kamcli subscriber setattr*)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision, subscriber
from kamtool.cli.context import out

NAME = "subscriber"
app = typer.Typer(
    name=NAME, help="Extra columns of subscriber rows (kamcli setattrs/setattri/setattrnull).",
    no_args_is_help=True,
)  # fmt: skip

UserArg = Annotated[str, typer.Argument(help="user[@domain].", show_default=False)]
ColumnArg = Annotated[str, typer.Argument(help="Column of the subscriber table.")]


@app.command("setattrs")
def setattrs(
    user: UserArg, column: ColumnArg, value: Annotated[str, typer.Argument(help="Text.")]
) -> None:
    """Set a text column of the user's row."""
    from kamtool.core import subscriber_attrs

    provision.edit(subscriber_attrs.set_text, provision.user(user), column, value, no_reload=True)


@app.command("setattri")
def setattri(
    user: UserArg, column: ColumnArg, value: Annotated[str, typer.Argument(help="Integer.")]
) -> None:
    """Set an integer column of the user's row."""
    from kamtool.core import subscriber_attrs

    provision.edit(subscriber_attrs.set_int, provision.user(user), column, value, no_reload=True)


@app.command("setattrnull")
def setattrnull(user: UserArg, column: ColumnArg) -> None:
    """Set a column of the user's row to NULL."""
    from kamtool.core import subscriber_attrs

    provision.edit(subscriber_attrs.set_null, provision.user(user), column, no_reload=True)


@app.command("getattrs")
def getattrs(user: UserArg) -> None:
    """The user's row with its extra columns (never the password or hashes)."""
    from kamtool.core import subscriber_attrs

    with provision.database() as db:
        out().record(subscriber_attrs.get_attrs(db, provision.user(user)))


# kamcli's `subscriber add|rm|passwd|show` (kamtool's top-level add, rm, passwd, show)
for _verb in (subscriber.add, subscriber.rm, subscriber.passwd, subscriber.show):
    app.command(_verb.__name__, hidden=True)(_verb)
