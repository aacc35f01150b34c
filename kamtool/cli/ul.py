"""`kamtool ul ...`: registrations held by the running server (usrloc over JSON-RPC)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli.context import out, settings
from kamtool.cli.output import Column
from kamtool.cli.runtime import client

NAME = "ul"
app = typer.Typer(
    name=NAME, help="Registrations in the running server (usrloc).", no_args_is_help=True
)

COLUMNS = [
    Column("aor", "AOR"), Column("contact"),
    Column("expires", justify="right", none="permanent"), Column("q", "Q", "right"),
    Column("socket"), Column("received"), Column("user_agent"),
]  # fmt: skip
# ul.add takes a C int: a bigger number wraps (Kamailio stored 2147483638 for 1e14)
MAX_EXPIRES = 2**31 - 1 - 2**30  # ~34 years, with room for "now" added to it
TableOption = Annotated[str, typer.Option("--table", help="usrloc table (domain).")]


def _aor(aor: str) -> str:
    """The AoR as kamctl sends it: a bare user gets the default domain (SIP_DOMAIN,
    --domain ...), which a server with usrloc ``use_domain 1`` needs ("Domain missing in
    AOR" otherwise) and one with ``use_domain 0`` drops; a ``sip:`` scheme is removed."""
    from kamtool.core.runtime import usrloc

    text = usrloc.aor_of(aor)
    domain = settings().sip_domain
    if text and "@" not in text and domain:
        return f"{text}@{domain}"
    return text


@app.command("show")
def show(
    aor: Annotated[str | None, typer.Argument(help="Only this AoR.", show_default=False)] = None,
    brief: Annotated[bool, typer.Option("--brief", help="Only the AoRs, no contacts.")] = False,
    table: TableOption = "location",
) -> None:
    """Registered contacts (ul.dump, or ul.lookup for one AoR)."""
    from kamtool.core.runtime import usrloc

    with client() as rpc:
        rows = usrloc.show(rpc, _aor(aor) if aor else aor, brief=brief, table=table)
    what = f"{aor} has no contacts" if aor else "no registrations"
    out().table(rows, [COLUMNS[0]] if brief else COLUMNS, empty=what)


app.command("dump", help="Same as `ul show` (kamctl's name).")(show)


@app.command("rm")
def rm(
    aor: Annotated[str, typer.Argument(help="The AoR (user, or user@domain with use_domain).")],
    contact: Annotated[
        str | None, typer.Argument(help="Only this contact URI.", show_default=False)
    ] = None,
    table: TableOption = "location",
) -> None:
    """Remove the contacts of an AoR, or one of them (ul.rm / ul.rm_contact)."""
    from kamtool.core.runtime import usrloc

    target = _aor(aor)  # what the server was asked to remove, as `ul add` names it
    with client() as rpc:
        usrloc.remove(rpc, target, contact, table=table)
    what = f"contact {contact} of {target}" if contact else f"contacts of {target}"
    out().done(f"removed {what}", {"ok": True, "aor": target, "contact": contact})


@app.command("add")
def add(
    aor: Annotated[str, typer.Argument(help="The AoR.")],
    contact: Annotated[str, typer.Argument(help="Contact URI, e.g. sip:1001@10.0.0.5:5060.")],
    expires_arg: Annotated[
        int | None,
        typer.Argument(
            metavar="EXPIRES",
            help="Seconds, as kamctl ul add takes it (same as --expires).",
            min=0,
            max=MAX_EXPIRES,
            show_default=False,
        ),
    ] = None,  # fmt: skip
    path_arg: Annotated[
        str | None,
        typer.Argument(
            metavar="PATH", help="Path header value (kamctl's 4th argument).", show_default=False
        ),
    ] = None,  # fmt: skip
    expires: Annotated[
        int,
        typer.Option(
            "--expires", help="Seconds; 0 = permanent (kamctl's default).", min=0, max=MAX_EXPIRES
        ),
    ] = 0,
    q: Annotated[
        float, typer.Option("--q", help="q value 0..1 (kamctl's default 1.0).", min=0, max=1)
    ] = 1.0,
    table: TableOption = "location",
) -> None:
    """Add a contact by hand (ul.add), like a REGISTER would.

    kamctl's form, ul add AOR CONTACT [EXPIRES [PATH]], works too, with kamctl's
    defaults: permanent (expires 0) and q 1.0.
    """
    from kamtool.core.runtime import usrloc

    if expires_arg is not None:
        expires = expires_arg
    path = "" if path_arg in (None, ".", "0") else str(path_arg)  # kamctl sends "." for none
    aor = _aor(aor)
    with client() as rpc:
        usrloc.add(rpc, aor, contact, expires=expires, q=q, path=path, table=table)
    out().done(
        f"added {contact} to {aor}",
        {"ok": True, "aor": aor, "contact": contact, "expires": expires, "q": q},
    )


@app.command("flush")
def flush() -> None:
    """Write the in-memory registrations to the database now (ul.flush)."""
    from kamtool.core.runtime import usrloc

    with client() as rpc:
        usrloc.flush(rpc)
    out().done("usrloc flushed to the database")
