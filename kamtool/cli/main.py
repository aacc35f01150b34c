"""The root ``kamtool`` command: global options, sub-command registration, exit codes.

This is the only place that turns a :class:`~kamtool.errors.KamtoolError` into an
exit status. Every other CLI module exports either ``app`` (a Typer group, mounted
under its ``NAME``) or ``register(root)`` (top-level commands such as ``add``); they are
listed in :mod:`kamtool.cli.lazy` and imported only when their command runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kamtool import __version__
from kamtool.cli.lazy import LazyGroup
from kamtool.cli.richhelp import help_on_stderr, load_help_renderer
from kamtool.errors import ExitStatus, KamtoolError

if TYPE_CHECKING:
    from kamtool.cli.output import Output

app = typer.Typer(
    name="kamtool",
    cls=LazyGroup,
    help="Manage a Kamailio SIP server (or kamtool's own proxy): subscribers, ACLs, "
    "dispatcher, database and runtime state.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Set by main() when --json appears after the command name.
_json_after_command = False


def version_text() -> str:
    """kamtool's version, then the Python and the event loop ``kamtool serve`` runs on
    (uvloop when installed: kamtool.proxy.server.new_event_loop). Nothing is imported."""
    import importlib.metadata
    import importlib.util

    impl = sys.implementation.name.replace("cpython", "CPython")
    py = ".".join(str(n) for n in sys.version_info[:3])
    if importlib.util.find_spec("uvloop") is not None:
        loop = f"uvloop {importlib.metadata.version('uvloop')}"
    else:
        loop = "asyncio (uvloop is not installed)"
    return f"kamtool {__version__}\nPython {py} ({impl})\nevent loop: {loop}"


def _version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


def _install_completion(value: str | None) -> None:
    if value is not None:
        from kamtool.cli import completion

        completion.install(value)


def _show_completion(value: str | None) -> None:
    if value is not None:
        from kamtool.cli import completion

        completion.show(value)


@app.callback()
def root(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL (sqlite:///rel, sqlite:////abs, mysql://, postgres://).",
            envvar=None,
            show_default=False,
        ),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="kamtool TOML file to use.", show_default=False)
    ] = None,
    kamctlrc: Annotated[
        Path | None,
        typer.Option("--kamctlrc", help="Read settings from this kamctlrc.", show_default=False),
    ] = None,
    kamcli_ini: Annotated[
        Path | None,
        typer.Option(
            "--kamcli-ini", help="Read settings from this kamcli.ini.", show_default=False
        ),
    ] = None,
    instance: Annotated[
        str | None,
        typer.Option(
            "--instance",
            "-i",
            help="Use the \\[instance.NAME] section of kamtool.toml (kamtool instance list).",
            show_default=False,
        ),
    ] = None,
    rpc_url: Annotated[
        str | None,
        typer.Option(
            "--rpc",
            help="JSON-RPC endpoint: http://host:port/RPC, fifo:/path, unix:/path.",
            show_default=False,
        ),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option("--domain", help="Default SIP domain for user names.", show_default=False),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show kamtool's version."),
    ] = False,
    install_completion: Annotated[
        str | None,
        typer.Option(
            "--install-completion",
            callback=_install_completion,
            is_eager=True,
            metavar="[SHELL]",
            expose_value=False,
            help="Install completion for bash, zsh or fish (default: this shell).",
            show_default=False,
        ),
    ] = None,
    show_completion: Annotated[
        str | None,
        typer.Option(
            "--show-completion",
            callback=_show_completion,
            is_eager=True,
            metavar="[SHELL]",
            expose_value=False,
            help="Print the completion script for bash, zsh or fish (default: this shell).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Global options go before the command: ``kamtool --json --db URL show``."""
    # Imported here: help pages and --version need no settings (start-up time).
    from kamtool.cli.context import AppContext, set_current
    from kamtool.cli.output import Output
    from kamtool.config import load_settings

    json_mode = json_ or _json_after_command or None
    for flag, given in (("--db", db), ("--rpc", rpc_url)):
        if given is not None and not given.strip():
            # (an unset variable in `--db "$URL"` must not mean the default database)
            from kamtool.errors import BadInput

            raise BadInput(f"{flag} is empty", hint=f"give a URL, or leave {flag} out")
    settings = load_settings(
        config_file=config,
        kamctlrc=kamctlrc,
        kamcli_ini_file=kamcli_ini,
        instance=instance,
        overrides={"db_url": db, "json": json_mode, "rpc_url": rpc_url, "sip_domain": domain},
    )
    set_current(AppContext(settings=settings, out=Output(settings.json)))


def _split_json_flag(argv: list[str]) -> tuple[list[str], bool]:
    """Remove ``--json`` given after the command name (``kamtool show --json``)."""
    if "--" in argv:
        cut = argv.index("--")
        head, tail = argv[:cut], argv[cut:]
    else:
        head, tail = argv, []
    found = "--json" in head
    return [a for a in head if a != "--json"] + tail, found


def _completion_shell_default(argv: list[str]) -> list[str]:
    """A bare ``--show-completion`` / ``--install-completion`` means the running shell."""
    flags = ("--show-completion", "--install-completion")
    if not any(a in flags for a in argv):
        return argv
    from kamtool.cli.completion import AUTO

    out: list[str] = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg in flags and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out.append(AUTO)
    return out


def _output(json_mode: bool) -> Output:
    from kamtool.cli.output import Output

    return Output(json_mode)


def _wants_help(args: list[str]) -> bool:
    """True when the command line asks for a help page (no arguments, ``-h``, ``--help``)."""
    head = args[: args.index("--")] if "--" in args else args
    return not head or "--help" in head or "-h" in head


def main(argv: list[str] | None = None) -> int:
    """Run kamtool with ``argv`` and return the exit status (never raises)."""
    global _json_after_command
    args, _json_after_command = _split_json_flag(list(sys.argv[1:] if argv is None else argv))
    args = _completion_shell_default(args)
    json_mode = _json_after_command or "--json" in args or os.environ.get("KAMTOOL_JSON") == "1"
    wants_help = _wants_help(args)
    if wants_help:
        load_help_renderer()  # before Typer imports its renderer the slow way
    if os.environ.get("_KAMTOOL_COMPLETE"):  # the shell asks for completions
        from kamtool.cli import completion

        completion.prepare()
    from typer._click import exceptions as click_exc

    # a group without its subcommand: the usage error in JSON on stdout, help on stderr
    pages = help_on_stderr() if json_mode and not wants_help else contextlib.nullcontext()
    try:
        with pages:
            rv = app(args=args, prog_name="kamtool", standalone_mode=False)
        return int(rv) if isinstance(rv, int) else 0
    except KamtoolError as exc:
        _output(json_mode).error(exc.to_dict(), exc.hint)
        return int(exc.exit_status)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return int(ExitStatus.INTERRUPTED)
    except click_exc.NoArgsIsHelpError as exc:  # the help text was printed already
        if json_mode:
            ctx = exc.ctx
            group = ctx.command if ctx is not None else None
            names = group.list_commands(ctx) if hasattr(group, "list_commands") else []
            _output(json_mode).error(
                {"code": "usage", "message": "Missing command.", "commands": names,
                 "exit_status": int(ExitStatus.USAGE)},
                f"see '{ctx.command_path} --help'" if ctx is not None else None,
            )  # fmt: skip
        return int(ExitStatus.USAGE)
    except click_exc.ClickException as exc:
        message = exc.format_message()
        ctx = getattr(exc, "ctx", None)
        hint = f"see '{ctx.command_path} --help'" if ctx is not None else None
        _output(json_mode).error(
            {"code": "usage", "message": message, "exit_status": int(ExitStatus.USAGE)}, hint
        )
        return int(ExitStatus.USAGE) if exc.exit_code == 2 else exc.exit_code
    except KeyboardInterrupt:
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`kamtool ul show | head`): stay quiet.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return int(ExitStatus.OK)
    except Exception as exc:  # a bug: say so, with the traceback for the report
        traceback.print_exc()
        _output(json_mode).error(
            {
                "code": "internal_error",
                "message": f"internal error: {exc!r}",
                "exit_status": int(ExitStatus.ERROR),
            }
        )
        return int(ExitStatus.ERROR)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
