"""`kamtool dialplan ...`: the dialplan module's rules (kamctl dialplan, kamcli dialplan)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.context import out
from kamtool.cli.options import NoReloadOption

NAME = "dialplan"
app = typer.Typer(
    name=NAME, help="Number translation rules (dialplan table).", no_args_is_help=True
)

COLUMNS = ["id", "dpid", "pr", "match_op", "match_exp", "match_len", "subst_exp", "repl_exp",
           "attrs"]  # fmt: skip


def _arg(help: str):
    return typer.Argument(help=help, show_default=False)


@app.command("add")
def add(
    dpid: Annotated[str, _arg("Dialplan id.")],
    pr: Annotated[str, _arg("Priority: lower is tried first.")],
    match_op: Annotated[str, _arg("0/equal, 1/regexp or 2/fnmatch.")],
    match_exp: Annotated[str, _arg("What the input must equal or match.")],
    match_len: Annotated[str | None, _arg("Input length the rule is for, 0 = any [0].")] = None,
    subst_exp: Annotated[str | None, _arg("Regex whose groups \\1..\\9 feed REPL_EXP.")] = None,
    repl_exp: Annotated[str | None, _arg("The output: text, \\0..\\9, $vars.")] = None,
    attrs: Annotated[str | None, _arg("Attributes returned with a match.")] = None,
    no_reload: NoReloadOption = False,
) -> None:
    """Add a rule (kamctl dialplan addrule DPID PR OP MATCH_EXP [LEN] [SUBST] [REPL] [ATTRS])."""
    from kamtool.core import dialplan

    provision.edit(
        dialplan.add, dpid, pr, match_op, match_exp, match_len, subst_exp, repl_exp, attrs,
        no_reload=no_reload,
    )  # fmt: skip


@app.command("rm")
def rm(
    dpid: Annotated[str | None, _arg("Dialplan id.")] = None,
    pr: Annotated[str | None, _arg("Remove the rules of this priority.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Remove every rule of DPID.")] = False,
    rule_id: Annotated[
        str | None, typer.Option("--id", help="Remove the rule with this row id.")
    ] = None,
    no_reload: NoReloadOption = False,
) -> None:
    """Remove rules: DPID PR (kamctl rmrule), DPID --all (kamctl rmdpid) or --id ID."""
    from kamtool.core import dialplan

    provision.edit(dialplan.remove, dpid, pr, rule_id=rule_id, whole=all_, no_reload=no_reload)


@app.command("show")
def show(dpid: Annotated[str | None, _arg("Only this dialplan id.")] = None) -> None:
    """List the rules in the database, by dpid and priority."""
    from kamtool.core import dialplan

    provision.listing(dialplan.show, dpid, columns=COLUMNS, empty="no dialplan rules")


@app.command("import")
def import_(
    file: Annotated[Path, _arg("CSV file with a header line ('-' for stdin).")],
    no_reload: NoReloadOption = False,
) -> None:
    """Add many rules from CSV, all or nothing (columns: dpid, pr, match_op, ...)."""
    from kamtool.core import dialplan

    with provision.text_input(file) as stream, provision.database() as db:
        change = dialplan.import_csv(db, stream)
    provision.report(change, no_reload=no_reload)


@app.command("translate")
def translate(
    dpid: Annotated[str, _arg("Dialplan id.")],
    value: Annotated[str, _arg("The input, e.g. a dialled number.")],
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Translate from the database, without a server."),
    ] = False,
) -> None:
    """Translate VALUE with dialplan DPID (dialplan.translate, or --offline from the table)."""
    from kamtool.core import validate

    number = validate.integer(dpid, "dpid")
    if offline:
        from kamtool.core import dialplan

        with provision.database() as db:
            result = dialplan.translate(db, number, value)
    else:
        from kamtool.cli.runtime import client
        from kamtool.core.runtime import dialplan as rt

        with client() as rpc:
            result = rt.translate(rpc, number, value)
    out().record(result)


@app.command("reload")
def reload() -> None:
    """Reload the rules from the database (dialplan.reload)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import dialplan as rt

    with client() as rpc:
        message = rt.reload(rpc)
    out().done(message, {"ok": True, "message": message})


@app.command("dump")
def dump(dpid: Annotated[str, _arg("Dialplan id.")]) -> None:
    """The rules of DPID as the running server holds them, in the order it tries them."""
    from kamtool.cli.runtime import client
    from kamtool.core import validate
    from kamtool.core.runtime import dialplan as rt

    number = validate.integer(dpid, "dpid")
    with client() as rpc:
        rows = rt.dump(rpc, number)
    out().table(rows, COLUMNS[1:], empty=f"the server holds no rules for dpid {number}")


# kamctl's spellings, hidden from the help: `kamctl dialplan addrule|rmrule|rmdpid`
app.command("addrule", hidden=True)(add)


@app.command("rmrule", hidden=True)
def rmrule(
    dpid: Annotated[str, _arg("Dialplan id.")],
    pr: Annotated[str, _arg("Priority.")],
    no_reload: NoReloadOption = False,
) -> None:
    """Remove the rules of DPID with priority PR (kamctl dialplan rmrule)."""
    from kamtool.core import dialplan

    provision.edit(dialplan.remove, dpid, pr, no_reload=no_reload)


@app.command("rmdpid", hidden=True)
def rmdpid(dpid: Annotated[str, _arg("Dialplan id.")], no_reload: NoReloadOption = False) -> None:
    """Remove every rule of DPID (kamctl dialplan rmdpid)."""
    from kamtool.core import dialplan

    provision.edit(dialplan.remove, dpid, whole=True, no_reload=no_reload)
