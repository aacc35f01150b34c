"""`kamtool dbctl ...`: create, drop, show, back up, restore, copy and migrate the database.

Each command is options + one call into :mod:`kamtool.core.dbctl` + rendering. Progress
bars (backup, restore, copy) are drawn here on stderr, only on a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from kamtool.cli import completion
from kamtool.cli.context import out, settings
from kamtool.cli.options import YesOption
from kamtool.cli.prompt import confirm
from kamtool.errors import ExitStatus

NAME = "dbctl"
app = typer.Typer(
    name=NAME,
    help="Create, drop, show, back up, restore, copy and migrate the Kamailio database "
    "(what kamdbctl does).",
    no_args_is_help=True,
)

GroupOption = Annotated[
    list[str] | None,
    typer.Option(
        "--group",
        "-g",
        help="Schema group: standard, presence or extra (repeatable; default: all three).",
        show_default=False,
        autocompletion=completion.schema_groups,
    ),
]


def _url() -> str:
    return settings().effective_db_url


@contextmanager
def _progress(what: str) -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback drawing a rich bar on stderr (nothing without a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = out().err
    enabled = console.is_terminal and not out().json_mode
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not enabled,
    )
    task = bar.add_task(what, total=None)

    def update(table: str, done: int, total: int) -> None:
        bar.update(task, completed=done, total=total, description=f"{what} {table}")

    with bar:
        yield update


@app.command("create")
def create(
    group: GroupOption = None,
    users: Annotated[
        bool, typer.Option("--users", help="Also create the read-write and read-only users.")
    ] = False,
    rw_user: Annotated[
        str | None, typer.Option(help="Read-write user (kamctlrc DBRWUSER, else kamailio).")
    ] = None,
    rw_password: Annotated[
        str | None, typer.Option(help="Its password (DBRWPW, else kamailiorw).")
    ] = None,
    ro_user: Annotated[
        str | None, typer.Option(help="Read-only user (DBROUSER, else kamailioro).")
    ] = None,
    ro_password: Annotated[
        str | None, typer.Option(help="Its password (DBROPW, else kamailioro).")
    ] = None,
    admin_url: Annotated[
        str | None,
        typer.Option(
            help="Server URL with rights to create databases and users (default: kamctlrc's "
            "DBROOTUSER on the same server, else --db's).",
            show_default=False,
        ),
    ] = None,
    access_host: Annotated[
        list[str] | None,
        typer.Option(
            help="MySQL: also grant to users at this host (repeatable).", show_default=False
        ),
    ] = None,
    sql: Annotated[
        str | None,
        typer.Option(
            "--sql",
            help="Only print the DDL for this engine (sqlite, mysql, postgres); touch nothing.",
            show_default=False,
        ),
    ] = None,
    missing: Annotated[
        bool,
        typer.Option("--missing", help="Only create the tables that do not exist (dropped ones)."),
    ] = False,
) -> None:
    """Create the database (MySQL/PostgreSQL), the tables and the version rows."""
    from kamtool.config import default_table_groups, kamctl_db_users
    from kamtool.core import dbctl

    group = group or default_table_groups(settings())  # kamdbctl's INSTALL_*_TABLES
    kam = kamctl_db_users(settings())
    rw = kam.get("rw", ("kamailio", "kamailiorw"))
    ro = kam.get("ro", ("kamailioro", "kamailioro"))
    if sql:
        script = dbctl.create_script(sql, group)
        if out().json_mode:
            out().json({"engine": sql, "sql": script})
        else:
            typer.echo(script)
        return
    result = dbctl.create(
        _url(),
        group,
        users=users,
        rw=(rw_user or rw[0], rw_password or rw[1]),
        ro=(ro_user or ro[0], ro_password or ro[1]),
        admin_url=admin_url or dbctl.default_admin_url(_url(), settings().db_root_url),
        access_hosts=access_host or (),
        missing=missing,
    )
    if missing and not result["tables"]:
        out().done(f"no table missing in {result['url']}", result)
        return
    msg = (
        f"created {len(result['tables'])} tables ({', '.join(result['groups'])}) in {result['url']}"
    )
    if result.get("users"):
        msg += "; users: " + ", ".join(sorted({u["user"] for u in result["users"]}))
    out().done(msg, result)


@app.command("drop")
def drop(
    group: GroupOption = None,
    keep_database: Annotated[
        bool,
        typer.Option(
            "--keep-database",
            help="Drop every Kamailio table but keep the (empty) database or SQLite file.",
        ),
    ] = False,
    database: Annotated[
        bool, typer.Option("--database", hidden=True, help="The default without --group.")
    ] = False,
    admin_url: Annotated[
        str | None, typer.Option(help="Server URL allowed to drop databases.", show_default=False)
    ] = None,
    yes: YesOption = False,
) -> None:
    """Drop the whole database (MySQL/PostgreSQL) or SQLite file, as kamdbctl drop does;
    with --group only that group's tables (all data in them is lost)."""
    from kamtool.config import redact_url
    from kamtool.core import dbctl

    whole = database or (not group and not keep_database)
    what = "the whole database" if whole else "the Kamailio tables"
    confirm(f"Drop {what} of {redact_url(_url())}?", yes=yes)
    admin_url = admin_url or dbctl.default_admin_url(_url(), settings().db_root_url)
    result = dbctl.drop(_url(), group, database=whole, admin_url=admin_url)
    if whole:
        out().done(f"dropped database {result['url']}", result)
    else:
        out().done(f"dropped {len(result['tables'])} tables in {result['url']}", result)


@app.command("reinit")
def reinit(group: GroupOption = None, yes: YesOption = False) -> None:
    """Drop and create the tables again (all data in them is lost)."""
    from kamtool.config import redact_url
    from kamtool.core import dbctl

    confirm(f"Drop and re-create the Kamailio tables of {redact_url(_url())}?", yes=yes)
    result = dbctl.reinit(_url(), group)
    out().done(f"re-created {len(result['tables'])} tables in {result['url']}", result)


@app.command("show")
def show(
    all_tables: Annotated[
        bool, typer.Option("--all", help="List tables that are not created too.")
    ] = False,
) -> None:
    """Tables, row counts and version rows, with mismatches against Kamailio 5.6."""
    from kamtool.core import dbctl

    result = dbctl.show(_url())
    o = out()
    if o.json_mode:
        o.json(result)
        return
    rows = [r for r in result["tables"] if all_tables or r["exists"]]
    o.table(
        rows,
        ["table", "group", "rows", "version", "expected_version", "status"],
        title=f"{result['url']} ({result['engine']}, {result['schema']})",
        empty="no Kamailio tables (create them: kamtool dbctl create)",
    )
    groups = ", ".join(f"{g} {'yes' if ok else 'no'}" for g, ok in result["groups"].items())
    o.info(f"groups installed: {groups}")
    for m in result["mismatches"]:
        o.warn(
            f"{m['table']}: version {m['version']}, Kamailio 5.6 expects {m['expected_version']}"
            + (f" ({m['note']})" if m.get("note") else "")
        )
    if result["missing_tables"]:
        o.warn(
            "missing from installed groups (dropped?): "
            + ", ".join(result["missing_tables"])
            + "; kamtool dbctl create --missing recreates them"
        )
    if result["unknown_tables"]:
        o.info("other tables: " + ", ".join(result["unknown_tables"]))


@app.command("backup")
def backup(
    file: Annotated[Path, typer.Argument(help="Backup file (JSON lines; .gz compresses).")],
    table: Annotated[
        list[str] | None,
        typer.Option("--table", "-t", help="Only this table (repeatable).", show_default=False),
    ] = None,
) -> None:
    """Write every Kamailio table's rows to FILE (restores into any engine)."""
    from kamtool.core import dbctl

    with _progress("backup") as progress:
        result = dbctl.backup(_url(), file, tables=table, progress=progress)
    out().done(f"backed up {result['rows']} rows of {result['tables']} tables to {file}", result)


@app.command("restore")
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by 'kamtool dbctl backup'.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Delete the rows of tables that hold data first.")
    ] = False,
    yes: YesOption = False,
) -> None:
    """Load FILE into the database (creating what is missing)."""
    from kamtool.config import redact_url
    from kamtool.core import dbctl

    if replace:
        confirm(f"Replace the rows of the restored tables in {redact_url(_url())}?", yes=yes)
    with _progress("restore") as progress:
        result = dbctl.restore(_url(), file, replace=replace, progress=progress)
    out().done(f"restored {result['rows']} rows into {result['tables']} tables", result)


@app.command("copy")
def copy(
    to: Annotated[str, typer.Option("--to", help="Target database URL.", show_default=False)],
    replace: Annotated[
        bool, typer.Option("--replace", help="Delete the rows of target tables that hold data.")
    ] = False,
    yes: YesOption = False,
) -> None:
    """Copy every Kamailio table's rows to another database (any engine)."""
    from kamtool.config import redact_url
    from kamtool.core import dbctl

    if replace:
        confirm(f"Replace the rows of the tables in {redact_url(to)}?", yes=yes)
    with _progress("copy") as progress:
        result = dbctl.copy(_url(), to, replace=replace, progress=progress)
    out().done(
        f"copied {result['rows']} rows of {result['tables']} tables to {result['to']}", result
    )


@app.command("migrate")
def migrate(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what would change.")
    ] = False,
) -> int:
    """Upgrade tables whose version differs from Kamailio 5.6's, where the change is known.

    Exit status 9 when some table could not be upgraded or is missing from an installed
    group (they are listed; ``dbctl create --missing`` recreates missing ones).
    """
    from kamtool.core import dbctl

    result: dict[str, Any] = dbctl.migrate(_url(), dry_run=dry_run)
    o = out()
    if o.json_mode:
        o.json(result)
    else:
        if result["up_to_date"]:
            o.info("every table has Kamailio 5.6's version")
        verb = "would upgrade" if dry_run else "upgraded"
        for e in result["upgraded"]:
            o.info(f"{verb} {e['table']} {e['found']} -> {e['expected']}: " + "; ".join(e["steps"]))
        for e in result["not_upgradable"]:
            o.warn(
                f"cannot upgrade {e['table']} ({e['found']} -> {e['expected']}): "
                + "; ".join(e["problems"])
            )
        for e in result["missing_tables"]:
            o.warn(
                f"{e['table']} ({e['group']} group) is missing: "
                "kamtool dbctl create --missing recreates it"
            )
    return int(ExitStatus.SCHEMA) if result["not_upgradable"] or result["missing_tables"] else 0


# kamdbctl's `presence` and `extra`: add that group's tables to an existing database
@app.command("presence", hidden=True)
def presence() -> None:
    """kamdbctl presence: create the presence tables."""
    create(group=["presence"])


@app.command("extra", hidden=True)
def extra() -> None:
    """kamdbctl extra: create the extra tables."""
    create(group=["extra"])
