"""`kamtool config ...`: what kamtool reads from kamctlrc, kamcli.ini, its TOML and flags;
`config example` prints a kamtool.toml with every [proxy] key (kamtool.cli.config_example)."""

from __future__ import annotations

import typer

from kamtool.cli.context import out, settings

NAME = "config"
app = typer.Typer(name=NAME, help="Effective settings and where they came from; an example file.",
                  no_args_is_help=True)  # fmt: skip


@app.callback()  # keeps Typer from folding a one-command group into its command
def _group() -> None:
    """Effective settings and where they came from; an example file."""


@app.command("show")
def show() -> None:
    """Each effective setting, its source (default, file, environment, flag); secrets masked."""
    from kamtool.config import describe

    s = settings()
    rows = describe(s)
    o = out()
    if o.json_mode:
        o.json({"settings": rows, "files": list(s.files), "warnings": list(s.warnings)})
        return
    o.table(rows, ["setting", "value", "source"])
    for path in s.files:
        o.info(f"read {path}")
    for warning in s.warnings:
        o.warn(warning)


@app.command("example")
def example() -> None:
    """Print a kamtool.toml with every [proxy] key commented out, with its default."""
    from kamtool.cli.config_example import example_toml

    text = example_toml()
    if out().json_mode:
        out().json({"toml": text})
    else:
        typer.echo(text, nl=False)
