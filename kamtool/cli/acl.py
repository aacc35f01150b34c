"""`kamtool acl ...`: users' ACL groups (grp table, group module)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.options import NoReloadOption

NAME = "acl"
app = typer.Typer(name=NAME, help="ACL groups of users (grp table).", no_args_is_help=True)

COLUMNS = ["id", "username", "domain", "grp", "last_modified"]
UserArg = Annotated[
    str, typer.Argument(help="user, user@domain or sip:user@domain.", show_default=False)
]


@app.command("grant")
def grant(
    user: UserArg,
    groups: Annotated[
        list[str], typer.Argument(help="One or more group names.", show_default=False)
    ],
    no_reload: NoReloadOption = False,
    force: Annotated[
        bool, typer.Option("--force", help="Grant even if the user has no subscriber row.")
    ] = False,
) -> None:
    """Put a user in groups (kamctl acl grant USER GROUP...).

    As kamctl: with VERIFY_ACL=1 only the names of ACL_GROUPS are accepted, with
    VERIFY_USER=1 only existing users (on a terminal kamtool asks, as kamctl does).
    """
    import sys

    from kamtool.cli.context import settings
    from kamtool.core import acl
    from kamtool.errors import NotFound

    s = settings()
    who = provision.user(user)
    allowed = s.acl_groups if s.verify_acl else None
    check_user = s.verify_user and not force
    try:
        provision.edit(
            acl.grant, who, groups, allowed=allowed, user_must_exist=check_user, no_reload=no_reload
        )
    except NotFound as exc:
        if not (check_user and exc.message.startswith("non-existent user") and sys.stdin.isatty()):
            raise
        if not typer.confirm(f"Non-existent user '{who}'. Still proceeding?", default=False):
            raise
        provision.edit(acl.grant, who, groups, allowed=allowed, no_reload=no_reload)


@app.command("revoke")
def revoke(
    user: UserArg,
    group: Annotated[
        str | None, typer.Argument(help="Only this group (default: all).", show_default=False)
    ] = None,
    no_reload: NoReloadOption = False,
) -> None:
    """Take a user out of one group, or out of all."""
    from kamtool.core import acl

    who = provision.user(user)
    provision.edit(acl.revoke, who, group, no_reload=no_reload)


@app.command("show")
def show(
    user: Annotated[str | None, typer.Argument(help="Only this user.", show_default=False)] = None,
) -> None:
    """List group memberships."""
    from kamtool.core import acl

    who = provision.user(user) if user is not None else None
    provision.listing(acl.show, who, columns=COLUMNS, empty="no ACL groups")
