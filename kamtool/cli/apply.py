"""``kamtool apply FILE [--plan]``, ``kamtool export``, ``kamtool drift FILE``: the
provisioning tables as a desired-state file (:mod:`kamtool.core.desired`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kamtool.cli.context import out, settings
from kamtool.cli.options import NoReloadOption
from kamtool.cli.output import Column
from kamtool.errors import ExitStatus

PLAN_COLUMNS = [Column("action"), Column("section"), Column("what"), Column("changed")]
DRIFT_COLUMNS = [Column("where"), Column("table"), Column("what"), Column("detail")]
FileArg = Annotated[Path, typer.Argument(help="Desired-state file (.toml, .yaml or .yml).",
                                         show_default=False)]  # fmt: skip


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.command("apply")(apply)
    root.command("export")(export)
    root.command("drift")(drift)


def _load(file: Path) -> Any:
    from kamtool.cli.provision import sole_domain
    from kamtool.core import desired

    s = settings()
    default = s.sip_domain
    if default is None:
        try:
            default = sole_domain()
        except Exception:  # no database yet: user names then need their domain
            default = None
    return desired.load(file, default_domain=default, settings=s)


def _plan_rows(steps: list[Any]) -> list[dict[str, Any]]:
    return [{**s.to_dict(), "changed": ", ".join(s.changed)} for s in steps]


def apply(
    file: FileArg,
    plan_only: Annotated[bool, typer.Option("--plan", help="Only print the changes.")] = False,
    no_reload: NoReloadOption = False,
) -> None:  # fmt: skip
    """Make the database what FILE says (one transaction), then reload what changed."""
    from kamtool.cli.provision import database
    from kamtool.core import apply as core

    wanted = _load(file)
    with database() as db:
        steps = core.plan(db, wanted)
        changed = [] if plan_only or not steps else core.execute(db, steps)
    rows = _plan_rows(steps)
    reloads = [] if plan_only else _reload(changed, skip=no_reload)
    if out().json_mode:
        out().json({"plan": plan_only, "steps": rows, "changed": changed,
                    "reloads": [r.to_dict() for r in reloads]})  # fmt: skip
        return
    if not steps:
        out().info("nothing to do: the database matches " + str(file))
        return
    out().table(rows, PLAN_COLUMNS)
    out().info(f"{len(steps)} change(s) " + ("planned (--plan: nothing written)" if plan_only
                                             else "made in one transaction"))  # fmt: skip


def _reload(sections: list[str], *, skip: bool) -> list[Any]:
    """Reload every cached table that changed; report each outcome."""
    from kamtool.core.desired import KINDS
    from kamtool.core.reload import reload_after_change

    outcomes = []
    for section in sections:
        table = KINDS[section].reload
        if table is None:
            continue
        outcome = reload_after_change(settings(), table, skip=skip)
        (out().warn if outcome.status == "failed" else out().info)(outcome.message)
        outcomes.append(outcome)
    return outcomes


def export(
    file: Annotated[Path | None, typer.Argument(help="Write here (.toml, .yaml); default "
                                                "stdout.", show_default=False)] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="toml or yaml (default: from "
                                            "the file name, else toml).",
                                            show_default=False)] = None,
    section: Annotated[list[str] | None, typer.Option("--section", help="Only this section "
                                                      "(repeat it).", show_default=False)] = None,
    secrets: Annotated[bool, typer.Option("--secrets", help="Include ha1/ha1b of subscribers "
                                          "(otherwise their secrets stay unmanaged).")] = False,
) -> None:  # fmt: skip
    """Write the database's provisioning tables as a desired-state file."""
    from kamtool.cli.provision import database
    from kamtool.core import apply as core
    from kamtool.core.desired import KINDS
    from kamtool.errors import BadInput

    for name in section or []:
        if name not in KINDS:
            raise BadInput(f"unknown section {name!r}", hint=f"one of {', '.join(KINDS)}")
    kind = fmt or ("yaml" if file and file.suffix.lower() in (".yaml", ".yml") else "toml")
    if kind not in ("toml", "yaml"):
        raise BadInput(f"--format {kind!r}: toml or yaml")
    with database() as db:
        doc = core.export(db, section, secrets=secrets)
    if out().json_mode and file is None:
        out().json(doc)
        return
    text = core.to_toml(doc) if kind == "toml" else core.to_yaml(doc)
    if file is None:
        typer.echo(text, nl=False)
        return
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write {file}: {exc.strerror}") from None
    out().done(f"wrote {sum(len(v) for v in doc.values())} entries to {file}",
               {"ok": True, "file": str(file), "sections": list(doc)})  # fmt: skip


def drift(
    file: FileArg,
    memory: Annotated[bool, typer.Option("--memory/--no-memory", help="Also compare the "
                                         "running server's memory with the database.")] = True,
) -> None:  # fmt: skip
    """Compare FILE, the database and the running server; exit 9 naming each difference."""
    from kamtool.cli.provision import database
    from kamtool.core import apply as core
    from kamtool.core.desired import KINDS

    wanted = _load(file)
    cached = [KINDS[s].table for s in wanted.managed()
              if KINDS[s].table in ("dispatcher", "address", "trusted", "domain")]  # fmt: skip
    with database() as db:
        differences = core.file_differences(core.plan(db, wanted))
        stored = {t: core.database_keys(t) for t in cached} if memory else {}
    if memory and cached:
        from kamtool.rpc.client import client_from_settings

        with client_from_settings(settings()) as rpc:
            held = core.read_memory(rpc, cached)
        differences += core.memory_differences(stored, held)
        for table, error in held.errors.items():  # e.g. a table the server does not load
            out().warn(f"{table}: the server's copy not compared: {error}")
    rows = [d.to_dict() for d in differences]
    if out().json_mode:
        out().json({"in_sync": not rows, "differences": rows})
    elif rows:
        out().table(rows, DRIFT_COLUMNS)
        out().info(f"{len(rows)} difference(s)")
    else:
        out().info(f"in sync: {file}, the database" + (" and the server" if memory else ""))
    if rows:
        raise typer.Exit(int(ExitStatus.DRIFT))
