"""`kamtool cr ...`: carrierroute's carriers, domains, routes and failure routes (kamctl cr)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.context import out
from kamtool.cli.options import NoReloadOption

NAME = "cr"
app = typer.Typer(
    name=NAME, help="Carrier routing: carriers, domains, routes (carrierroute tables).",
    no_args_is_help=True,
)  # fmt: skip
carrier_app = typer.Typer(help="Carrier names (carrier_name).", no_args_is_help=True)
domain_app = typer.Typer(help="Routing domain names (domain_name).", no_args_is_help=True)
route_app = typer.Typer(help="Routes (carrierroute).", no_args_is_help=True)
failure_app = typer.Typer(help="Failure routes (carrierfailureroute).", no_args_is_help=True)
app.add_typer(carrier_app, name="carrier")
app.add_typer(domain_app, name="domain")
app.add_typer(route_app, name="route")
app.add_typer(failure_app, name="failure")

ROUTE_COLUMNS = ["id", "carrier", "domain", "scan_prefix", "prob", "strip", "rewrite_host",
                 "rewrite_prefix", "rewrite_suffix", "mask", "flags", "description"]  # fmt: skip
FAILURE_COLUMNS = ["id", "carrier", "domain", "scan_prefix", "host_name", "reply_code",
                   "next_domain", "mask", "flags", "description"]  # fmt: skip


def _arg(help: str):
    return typer.Argument(help=help, show_default=False)


NumberArg = Annotated[str, typer.Argument(help="The id routes use.", show_default=False)]
NameArg = Annotated[str, typer.Argument(help="The name.", show_default=False)]


def _names(kind: str, group: typer.Typer) -> None:
    """add/rm/show of carrier_name or domain_name."""

    @group.command("add")
    def add(number: NumberArg, name: NameArg, no_reload: NoReloadOption = False) -> None:
        from kamtool.core import carrierroute

        provision.edit(carrierroute.name_add, kind, number, name, no_reload=no_reload)

    add.__doc__ = f"Add a {kind} name (kamctl cr add{kind[0]}n ID NAME)."

    @group.command("rm")
    def rm(number: NumberArg, no_reload: NoReloadOption = False) -> None:
        from kamtool.core import carrierroute

        provision.edit(carrierroute.name_remove, kind, number, no_reload=no_reload)

    rm.__doc__ = f"Remove a {kind} name no route uses."

    @group.command("show")
    def show() -> None:
        from kamtool.core import carrierroute

        provision.listing(carrierroute.name_show, kind, columns=["id", kind], empty=f"no {kind}s")

    show.__doc__ = f"List the {kind} names."


_names("carrier", carrier_app)
_names("domain", domain_app)


@route_app.command("add")
def route_add(
    carrier: Annotated[str, _arg("Carrier id.")],
    scan_prefix: Annotated[str, _arg("Number prefix ('' = any).")],
    domain: Annotated[str, _arg("Domain id.")],
    rewrite_host: Annotated[str, _arg("Host to route to ('' = none: the call fails).")],
    prob: Annotated[str, _arg("Probability 0-1 [1].")] = "1",
    strip: Annotated[str, _arg("Digits to strip [0].")] = "0",
    rewrite_prefix: Annotated[str, _arg("Prefix to add [''].")] = "",
    rewrite_suffix: Annotated[str, _arg("Suffix to add [''].")] = "",
    mask: Annotated[str, typer.Option("--mask", help="Flag mask.")] = "0",
    flags: Annotated[str, typer.Option("--flags", help="Flags.")] = "0",
    comment: Annotated[str | None, typer.Option("--comment", help="Description.")] = None,
    no_reload: NoReloadOption = False,
) -> None:
    """Add a route (kamctl cr addcarrier CARRIER PREFIX DOMAIN HOST [PROB] [STRIP] ...)."""
    from kamtool.core import carrierroute

    provision.edit(
        carrierroute.route_add, carrier, scan_prefix, domain, rewrite_host, prob, strip,
        rewrite_prefix, rewrite_suffix, mask=mask, flags=flags, description=comment,
        no_reload=no_reload,
    )  # fmt: skip


@route_app.command("rm")
def route_rm(
    carrier: Annotated[str, _arg("Carrier id.")],
    scan_prefix: Annotated[str, _arg("Number prefix.")],
    domain: Annotated[str, _arg("Domain id.")],
    no_reload: NoReloadOption = False,
) -> None:
    """Remove the routes of a carrier, prefix and domain (kamctl cr rmcarrier)."""
    from kamtool.core import carrierroute

    provision.edit(carrierroute.route_remove, carrier, scan_prefix, domain, no_reload=no_reload)


@route_app.command("show")
def route_show() -> None:
    """List the routes in the database."""
    from kamtool.core import carrierroute

    provision.listing(carrierroute.route_show, columns=ROUTE_COLUMNS, empty="no routes")


@failure_app.command("add")
def failure_add(
    carrier: Annotated[str, _arg("Carrier id.")],
    domain: Annotated[str, _arg("Domain id.")],
    scan_prefix: Annotated[str, _arg("Number prefix.")],
    host_name: Annotated[str, _arg("Host whose reply this is.")],
    reply_code: Annotated[str, _arg("Reply code, '.' for any digit (5.., ... = any).")],
    next_domain: Annotated[str, _arg("Domain id to continue in.")],
    mask: Annotated[str, typer.Option("--mask", help="Flag mask.")] = "0",
    flags: Annotated[str, typer.Option("--flags", help="Flags.")] = "0",
    comment: Annotated[str | None, typer.Option("--comment", help="Description.")] = None,
    no_reload: NoReloadOption = False,
) -> None:
    """Add a failure route."""
    from kamtool.core import carrierroute

    provision.edit(
        carrierroute.failure_add, carrier, domain, scan_prefix, host_name, reply_code,
        next_domain, flags=flags, mask=mask, description=comment, no_reload=no_reload,
    )  # fmt: skip


@failure_app.command("rm")
def failure_rm(
    number: Annotated[str, _arg("Failure route id.")], no_reload: NoReloadOption = False
) -> None:
    """Remove a failure route."""
    from kamtool.core import carrierroute

    provision.edit(carrierroute.failure_remove, number, no_reload=no_reload)


@failure_app.command("show")
def failure_show() -> None:
    """List the failure routes in the database."""
    from kamtool.core import carrierroute

    provision.listing(carrierroute.failure_show, columns=FAILURE_COLUMNS, empty="none")


@app.command("select")
def select(
    carrier: Annotated[str, _arg("Carrier name or id.")],
    domain: Annotated[str, _arg("Routing domain name or id.")],
    number: Annotated[str, _arg("The number matched against the prefixes.")],
    hash_value: Annotated[
        str, typer.Option("--hash-value", help="Text of the hash source, e.g. the Call-ID.")
    ],
    user: Annotated[
        str | None, typer.Option("--user", help="The user to rewrite [NUMBER].")
    ] = None,
    flags: Annotated[str, typer.Option("--flags", help="Message flags.")] = "0",
) -> None:
    """Where cr_route() sends a call, from the database (CRC32 hash algorithm)."""
    from kamtool.core import carrierroute

    with provision.database() as db:
        result = carrierroute.select(
            db, carrier, domain, number, hash_value, user=user, flags=flags
        )
    out().record(result)


@app.command("next-domain")
def next_domain(
    carrier: Annotated[str, _arg("Carrier name or id.")],
    domain: Annotated[str, _arg("Routing domain name or id.")],
    number: Annotated[str, _arg("The number matched against the prefixes.")],
    host: Annotated[str, _arg("The host that failed.")],
    reply_code: Annotated[str, _arg("Its reply code.")],
    flags: Annotated[str, typer.Option("--flags", help="Message flags.")] = "0",
) -> None:
    """Where cr_next_domain() continues a failed call, from the database."""
    from kamtool.core import carrierroute

    with provision.database() as db:
        result = carrierroute.next_domain(
            db, carrier, domain, number, host, reply_code, flags=flags
        )
    out().record(result)


@app.command("reload")
def reload() -> None:
    """Reload the routing data from the database (cr.reload_routes)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import carrierroute as rt

    with client() as rpc:
        rt.reload(rpc)
    out().done("carrierroute reloaded")


@app.command("dump")
def dump() -> None:
    """The routes as the running server holds them (cr.dump_routes)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import carrierroute as rt

    with client() as rpc:
        rows = rt.dump(rpc)
    out().table(rows, empty="the server holds no routes")


# kamctl's spellings, hidden from the help: `kamctl cr addcn|rmcn|adddn|rmdn|addcarrier|
# rmcarrier|show`
@app.command("addcn", hidden=True)
def addcn(number: NumberArg, name: NameArg, no_reload: NoReloadOption = False) -> None:
    """Add a carrier name (kamctl cr addcn)."""
    from kamtool.core import carrierroute

    provision.edit(carrierroute.name_add, "carrier", number, name, no_reload=no_reload)


@app.command("adddn", hidden=True)
def adddn(number: NumberArg, name: NameArg, no_reload: NoReloadOption = False) -> None:
    """Add a domain name (kamctl cr adddn)."""
    from kamtool.core import carrierroute

    provision.edit(carrierroute.name_add, "domain", number, name, no_reload=no_reload)


@app.command("rmcn", hidden=True)
def rmcn(number: NumberArg, no_reload: NoReloadOption = False) -> None:
    """Remove a carrier name (kamctl cr rmcn)."""
    from kamtool.core import carrierroute

    provision.edit(carrierroute.name_remove, "carrier", number, no_reload=no_reload)


@app.command("rmdn", hidden=True)
def rmdn(number: NumberArg, no_reload: NoReloadOption = False) -> None:
    """Remove a domain name (kamctl cr rmdn)."""
    from kamtool.core import carrierroute

    provision.edit(carrierroute.name_remove, "domain", number, no_reload=no_reload)


app.command("addcarrier", hidden=True)(route_add)
app.command("rmcarrier", hidden=True)(route_rm)
app.command("show", hidden=True)(route_show)
