"""`kamtool db ...`: raw SQL on the Kamailio database (kamcli's ``db`` commands).

Read-only unless ``--write``; the engine enforces it (see :mod:`kamtool.core.rawsql`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kamtool.cli.context import out, settings
from kamtool.cli.output import Column

NAME = "db"
app = typer.Typer(name=NAME, help="Raw SQL on the Kamailio database: query, show, runfile, "
                  "showcreate (read-only unless --write).", no_args_is_help=True)  # fmt: skip

WriteOption = Annotated[
    bool,
    typer.Option("--write", help="Allow changes (committed at the end); read-only otherwise."),
]


def _print(result) -> None:  # a kamtool.core.rawsql.StatementResult
    if result.returns_rows:
        out().table(result.rows, [Column(c, c) for c in result.columns], empty="no rows")
    elif out().json_mode:
        out().json(result.to_dict())
    else:
        out().info(f"{result.rowcount} row(s) affected" if result.rowcount >= 0 else "done")


@app.command("query")
def query(
    sql: Annotated[str, typer.Argument(help="One SQL statement ('-' reads it from stdin).")],
    write: WriteOption = False,
) -> None:
    """Run one SQL statement and print the rows it returns."""
    import sys

    from kamtool.core import rawsql

    text = sys.stdin.read() if sql == "-" else sql
    _print(rawsql.query(settings().effective_db_url, text, write=write))


@app.command("exec", hidden=True)
def exec_(sql: Annotated[str, typer.Argument(help="One SQL statement.")]) -> None:
    """kamctl db exec: one statement with write access (kamtool db query --write)."""
    query(sql, write=True)


app.command("roexec", hidden=True)(query)  # kamctl db roexec: read-only


@app.command("show")
def show(
    table: Annotated[str, typer.Argument(help="Table name.")],
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", help="At most this many rows.", show_default=False),
    ] = None,
) -> None:
    """Every row of TABLE."""
    from kamtool.core import rawsql

    _print(rawsql.show_table(settings().effective_db_url, table, limit=limit))


@app.command("runfile")
def runfile(
    file: Annotated[Path, typer.Argument(help="SQL script ('-' for stdin).", show_default=False)],
    write: WriteOption = False,
) -> None:
    """Run the statements of an SQL file in one transaction (all or nothing)."""
    import sys

    from kamtool.core import rawsql
    from kamtool.errors import BadInput

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read {file}: {exc}") from exc
    results = rawsql.run_file(settings().effective_db_url, text, write=write)
    if out().json_mode:
        out().json([r.to_dict() for r in results])
        return
    for r in results:
        _print(r)
    out().info(f"{len(results)} statement(s) run" + ("" if write else " (read-only)"))


@app.command("showcreate")
def showcreate(table: Annotated[str, typer.Argument(help="Table name.")]) -> None:
    """The CREATE TABLE statement of TABLE, as the database describes it."""
    from kamtool.core import rawsql

    text = rawsql.show_create(settings().effective_db_url, table)
    if out().json_mode:
        out().json({"table": table, "sql": text})
    else:
        typer.echo(text)


app.command("showg", hidden=True)(show)  # kamctl db showg: the same rows
