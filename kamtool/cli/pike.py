"""`kamtool pike ...`: flood detection state (pike module)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli.context import out
from kamtool.cli.runtime import client

NAME = "pike"
app = typer.Typer(name=NAME, help="Flood detection in the running server (pike).",
                  no_args_is_help=True)  # fmt: skip


@app.callback()  # keeps Typer from folding a one-command group into its command
def _group() -> None:
    """Flood detection in the running server (pike)."""


@app.command("top")
def top(
    all_: Annotated[
        bool, typer.Option("--all", help="Every tracked address, not only HOT.")
    ] = False,
    warm: Annotated[
        bool, typer.Option("--warm", help="Addresses getting close to the limit (WARM).")
    ] = False,
) -> None:
    """Addresses sending too fast (pike.top HOT, or WARM, or ALL), then the failed
    authentications per source and user (kamtool's proxy; banned at auth_fail_limit)."""
    from kamtool.core.runtime import pike
    from kamtool.errors import BadInput

    if all_ and warm:
        raise BadInput("--all and --warm exclude each other")
    with client() as rpc:
        result = pike.top(rpc, "ALL" if all_ else "WARM" if warm else "HOT")
        # kamtool's default route counts failed authentications (htable authfail)
        result["auth_failures"] = pike.auth_failures(rpc)
    if out().json_mode:
        out().json(result)
        return
    out().table(result["rows"], ["ip", "hits_prev", "hits_curr", "expires", "status"],
                empty="no warm address" if warm else "no address over the limit")  # fmt: skip
    if result.get("auth_failures"):
        # counted by the default route; at [proxy] auth_fail_limit the source is in ipban
        out().table(result["auth_failures"], ["source", "failures"], empty="")
