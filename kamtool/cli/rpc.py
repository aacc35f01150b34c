"""``kamtool rpc METHOD [ARGS...]``: any JSON-RPC call, with kamcmd's argument rules."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kamtool.cli import completion
from kamtool.cli.context import out
from kamtool.cli.runtime import client
from kamtool.errors import RpcError


def rpc(
    ctx: typer.Context,
    method: Annotated[
        str | None,
        typer.Argument(
            help="Method, e.g. core.uptime.",
            show_default=False,
            autocompletion=completion.rpc_methods,
        ),
    ] = None,
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="Parameters: integers and numbers go as such, 's:TEXT' forces a string, "
            "'i:N' an integer.",
            show_default=False,
        ),
    ] = None,
    params_json: Annotated[
        str | None,
        typer.Option(
            "--params-json",
            help="Parameters as raw JSON (array or object).",
            metavar="JSON",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    raw: Annotated[
        bool, typer.Option("--raw", help="Print the reply exactly as received.")
    ] = False,
    list_: Annotated[
        bool, typer.Option("--list", help="List the server's methods (system.listMethods).")
    ] = False,
    method_help: Annotated[
        bool,
        typer.Option(
            "--help",
            "--method-help",
            help="With METHOD: the server's help for it (system.methodHelp); "
            "alone: this help (also -h).",
        ),
    ] = False,  # fmt: skip
) -> None:
    """Call a JSON-RPC method and print its result as JSON (kamcmd / kamctl rpc).

    Exit status 7 when the server answers with an error (kamcmd exits 0).
    """
    from kamtool.rpc import protocol

    if method_help and method is None:
        typer.echo(ctx.get_help())
        return
    with client() as c:
        if list_:
            methods = c.call("system.listMethods")
            if out().json_mode:
                out().json(methods)
            else:
                print("\n".join(str(m) for m in methods or []))
            return
        if method is None:
            from kamtool.errors import BadInput

            raise BadInput("give a METHOD (or --list)", hint="kamtool rpc core.version")
        if method_help:
            text = c.call("system.methodHelp", method)
            if out().json_mode:
                out().json({"method": method, "help": text})
            else:
                print(text)
            return
        if params_json is not None:
            if args:
                from kamtool.errors import BadInput

                raise BadInput("give parameters as ARGS or with --params-json, not both")
            params = protocol.parse_params_json(params_json)
        else:
            params = protocol.parse_cli_params(args or [])
        if not raw:
            try:
                result = c.call_params(method, params)
            except RpcError as exc:
                if exc.hint is None and _has_numbers(params):
                    exc.hint = (
                        "numbers are sent as integers (kamcmd's rule); Kamailio fails a call "
                        "that expects text there: prefix it with s: (e.g. s:1001)"
                    )
                raise
            out().data(result)
            return
        reply = c.request(method, params)
        sys.stdout.write(reply.raw.decode("utf-8", "replace") + "\n")
        sys.stdout.flush()
        if isinstance(reply.document, dict) and "error" in reply.document:
            raise typer.Exit(7)  # the error reply was the output: no second message


def _has_numbers(params: object) -> bool:
    values = params.values() if isinstance(params, dict) else params or []
    return any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def register(root: typer.Typer) -> None:
    """Add ``kamtool rpc`` to the root app."""
    # --help is ours here (METHOD's help from the server); -h stays Typer's help. Unknown
    # "options" are parameters, so negative numbers pass: `kamtool rpc cfg.seti core debug -1`.
    root.command(
        "rpc",
        context_settings={"help_option_names": ["-h"], "ignore_unknown_options": True},
    )(rpc)
