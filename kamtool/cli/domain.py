"""`kamtool domain ...`: the domain table (domains this proxy serves)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.options import NoReloadOption
from kamtool.cli.runtime import add_domain_commands

NAME = "domain"
app = typer.Typer(name=NAME, help="Local SIP domains (domain table).", no_args_is_help=True)

COLUMNS = ["id", "domain", "did", "last_modified"]
DomainArg = Annotated[str, typer.Argument(help="Domain name or IP address.", show_default=False)]


@app.command("add")
def add(
    domain: DomainArg,
    did: Annotated[
        str | None, typer.Option("--did", help="Domain id (default: none).", show_default=False)
    ] = None,
    no_reload: NoReloadOption = False,
) -> None:
    """Add a domain."""
    from kamtool.cli.context import out, settings
    from kamtool.core import domains

    # with no configured domain, bare user names default to the table's only domain:
    # a second one ends that, and `kamtool add 1001 pw` then says "domain unknown"
    before = provision.sole_domain() if settings().sip_domain is None else None
    provision.edit(domains.add, domain, did, no_reload=no_reload)
    if before is not None and before != domain.lower():
        out().warn(
            f"user names without a domain no longer default to {before} (the domain "
            "table's only row): give user@domain, or set the default domain (--domain, "
            "KAMTOOL_SIP_DOMAIN, [sip] domain, SIP_DOMAIN in kamctlrc)"
        )


@app.command("rm")
def rm(domain: DomainArg, no_reload: NoReloadOption = False) -> None:
    """Remove a domain."""
    from kamtool.core import domains

    provision.edit(domains.remove, domain, no_reload=no_reload)


@app.command("show")
def show() -> None:
    """List the domain table (from the database)."""
    from kamtool.core import domains

    provision.listing(domains.show, columns=COLUMNS, empty="no domains")


app.command("showdb", hidden=True)(show)  # kamctl's name for it


# Run-time views and reloads over JSON-RPC (kamtool/cli/runtime.py).
add_domain_commands(app)
