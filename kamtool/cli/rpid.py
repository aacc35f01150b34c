"""`kamtool rpid ...`: a user's Remote-Party-ID (kamctl rpid), kept as the ``rpid``
preference in usr_preferences (Kamailio 5.6's subscriber table has no rpid column)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.context import settings

NAME = "rpid"
app = typer.Typer(
    name=NAME, help="Remote-Party-ID of users (rpid preference).", no_args_is_help=True
)


def _who(spec: str):
    from kamtool.core.preferences import owner

    return owner(spec if "@" in spec or ":" in spec else f"{spec}@", settings().sip_domain)


@app.command("add")
def add(
    user: Annotated[str, typer.Argument(help="user[@domain].", show_default=False)],
    rpid: Annotated[str, typer.Argument(help="e.g. <sip:+4930123@example.com>.")],
) -> None:
    """Set the user's RPID (kamctl rpid add USER RPID; replaces the previous one)."""
    from kamtool.core import preferences

    provision.edit(preferences.rpid_set, _who(user), rpid, no_reload=True)


@app.command("rm")
def rm(user: Annotated[str, typer.Argument(help="user[@domain].", show_default=False)]) -> None:
    """Remove the user's RPID."""
    from kamtool.core import preferences

    provision.edit(preferences.rpid_remove, _who(user), no_reload=True)


@app.command("show")
def show(
    user: Annotated[str | None, typer.Argument(help="user[@domain].", show_default=False)] = None,
) -> None:
    """Show RPIDs (every user's, or one)."""
    from kamtool.core import preferences

    who = _who(user) if user else None
    with provision.database() as db:
        rows = preferences.show(db, who, preferences.RPID)
    provision.show(
        [{"username": r["username"], "domain": r["domain"], "rpid": r["value"]} for r in rows],
        ["username", "domain", "rpid"], empty="no RPIDs",
    )  # fmt: skip
