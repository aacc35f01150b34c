"""`kamtool uacreg ...`: registrations the server makes upstream (uac module, uacreg table)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.context import out
from kamtool.cli.options import NoReloadOption

NAME = "uacreg"
app = typer.Typer(
    name=NAME, help="Upstream registrations (uac module, uacreg table).", no_args_is_help=True
)

COLUMNS = ["l_uuid", "l_username", "l_domain", "r_username", "r_domain", "auth_username",
           "auth_proxy", "expires", "flags"]  # fmt: skip
LIVE_COLUMNS = ["l_uuid", "l_username", "r_username", "r_domain", "auth_proxy", "expires",
                "state", "diff_expires"]  # fmt: skip
SecretsOption = Annotated[
    bool, typer.Option("--secrets", help="Also show auth_password and auth_ha1.")
]
ByOption = Annotated[
    str,
    typer.Option("--by", help="Which field VALUE is: l_uuid, l_username, r_username, "
                 "auth_username."),
]  # fmt: skip


def _arg(help: str):
    return typer.Argument(help=help, show_default=False)


@app.command("add")
def add(
    l_uuid: Annotated[str, _arg("Local id of the registration (unique).")],
    l_username: Annotated[str, _arg("Local user the line belongs to.")],
    l_domain: Annotated[str, _arg("Local domain.")],
    r_username: Annotated[str, _arg("User at the provider.")],
    r_domain: Annotated[str, _arg("Provider's domain (host[:port]).")],
    realm: Annotated[str, _arg("Auth realm ('' = any).")],
    auth_username: Annotated[str, _arg("Auth user name.")],
    auth_password: Annotated[str, _arg("Auth password; '-' reads it from stdin.")],
    auth_proxy: Annotated[str, _arg("Where REGISTERs go: sip:host[:port].")],
    expires: Annotated[str, _arg("Registration lifetime in seconds.")],
    flags: Annotated[str, typer.Option("--flags", help="Flags (1 = disabled).")] = "0",
    reg_delay: Annotated[str, typer.Option("--reg-delay", help="Seconds to wait first.")] = "0",
    contact_addr: Annotated[
        str, typer.Option("--contact-addr", help="host:port for the Contact.")
    ] = "",
    socket: Annotated[str, typer.Option("--socket", help="Send from proto:ip:port.")] = "",
    ha1: Annotated[
        bool, typer.Option("--ha1", help="AUTH_PASSWORD is the HA1 (32 hex digits).")
    ] = False,
    no_reload: NoReloadOption = False,
) -> None:
    """Add a registration (kamcli uacreg add: L_UUID L_USERNAME L_DOMAIN R_USERNAME
    R_DOMAIN REALM AUTH_USERNAME AUTH_PASSWORD AUTH_PROXY EXPIRES)."""
    from kamtool.core import uacreg

    secret = provision.password_arg(auth_password)
    password, ha1_value = ("", secret) if ha1 else (secret, "")
    provision.edit(
        uacreg.add, l_uuid, l_username, l_domain, r_username, r_domain, realm, auth_username,
        password, auth_proxy, expires, flags=flags, reg_delay=reg_delay,
        contact_addr=contact_addr, socket=socket, auth_ha1=ha1_value, no_reload=no_reload,
    )  # fmt: skip


@app.command("passwd")
def passwd(
    l_uuid: Annotated[str, _arg("The registration.")],
    password: Annotated[str, _arg("New password; '-' reads it from stdin.")],
    ha1: Annotated[bool, typer.Option("--ha1", help="PASSWORD is the HA1.")] = False,
    no_reload: NoReloadOption = False,
) -> None:
    """Change the password of a registration."""
    from kamtool.core import uacreg

    provision.edit(
        uacreg.passwd, l_uuid, provision.password_arg(password), ha1=ha1, no_reload=no_reload
    )


@app.command("rm")
def rm(
    l_uuid: Annotated[str, _arg("The registration.")], no_reload: NoReloadOption = False
) -> None:
    """Remove a registration."""
    from kamtool.core import uacreg

    provision.edit(uacreg.remove, l_uuid, no_reload=no_reload)


@app.command("show")
def show(
    l_uuid: Annotated[str | None, _arg("Only this registration.")] = None,
    secrets: SecretsOption = False,
) -> None:
    """List the registrations in the database (no passwords unless --secrets)."""
    from kamtool.core import uacreg

    with provision.database() as db:
        rows = uacreg.show(db, l_uuid, secrets=secrets)
    columns = [*COLUMNS, "auth_password", "auth_ha1"] if secrets else COLUMNS
    provision.show(rows, columns, empty="no registrations")


@app.command("list")
def list_(secrets: SecretsOption = False) -> None:
    """The registrations the running server holds, with their state (uac.reg_dump)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import uac

    with client() as rpc:
        rows = uac.dump(rpc, secrets=secrets)
    out().table(rows, None if secrets else LIVE_COLUMNS, empty="the server holds none")


@app.command("info")
def info(
    value: Annotated[str, _arg("The l_uuid (or --by another field).")],
    by: ByOption = "l_uuid",
    secrets: SecretsOption = False,
) -> None:
    """One registration as the running server holds it (uac.reg_info)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import uac

    with client() as rpc:
        out().record(uac.info(rpc, value, by=by, secrets=secrets))


def _switch(value: str, by: str, on: bool, in_db: bool) -> None:
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import uac

    if in_db:
        from kamtool.core import uacreg

        if by != "l_uuid":
            from kamtool.errors import BadInput

            raise BadInput("--db-too needs the l_uuid (--by l_uuid)")
        with provision.database() as db:
            uacreg.set_flags(db, value, disabled=not on)
    with client() as rpc:
        uac.enable(rpc, value, by=by, on=on)
    word = "enabled" if on else "disabled"
    out().done(f"registration {value} {word}", {"ok": True, "l_uuid": value, "state": word})


DbTooOption = Annotated[
    bool,
    typer.Option("--db-too", help="Also set the flags column, so that it survives a reload."),
]


@app.command("enable")
def enable(
    value: Annotated[str, _arg("The l_uuid (or --by another field).")],
    by: ByOption = "l_uuid",
    db_too: DbTooOption = False,
) -> None:
    """Let the server register this line again (uac.reg_enable)."""
    _switch(value, by, True, db_too)


@app.command("disable")
def disable(
    value: Annotated[str, _arg("The l_uuid (or --by another field).")],
    by: ByOption = "l_uuid",
    db_too: DbTooOption = False,
) -> None:
    """Stop the server registering this line (uac.reg_disable)."""
    _switch(value, by, False, db_too)


@app.command("reload")
def reload() -> None:
    """Reload every registration from the database (uac.reg_reload)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import uac

    with client() as rpc:
        uac.reload(rpc)
    out().done("registrations reloaded")


@app.command("refresh")
def refresh(l_uuid: Annotated[str, _arg("The registration.")]) -> None:
    """Load one registration again from the database (uac.reg_refresh)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import uac

    with client() as rpc:
        uac.refresh(rpc, l_uuid)
    out().done(f"registration {l_uuid} refreshed")
