"""The dialplan module's ``dialplan`` table: rules by dpid, as kamctl and kamcli edit them.

``add DPID PR MATCH_OP MATCH_EXP [MATCH_LEN] [SUBST_EXP] [REPL_EXP] [ATTRS]`` follows
kamctl's ``dialplan addrule``; every rule is compiled as Kamailio would load it (one bad
rule makes Kamailio's whole reload fail, so it is refused here). ``translate`` runs the
rules offline with Kamailio's semantics (:mod:`kamtool.core.dialplan_engine`).
Kamailio caches the table: the CLI asks for ``dialplan.reload`` after an edit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TextIO

from kamtool.core import csvrows, validate
from kamtool.core.dialplan_engine import MATCH_OPS, OP_NAMES, Dialplan, DialplanError, Rule
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound

COLUMNS = ("dpid", "pr", "match_op", "match_exp", "match_len", "subst_exp", "repl_exp", "attrs")
REQUIRED = ("dpid", "match_op", "match_exp")


def _row(r: Any) -> dict[str, Any]:
    return {"id": r.id, **{c: getattr(r, c) for c in COLUMNS}}


def match_op(value: str | int) -> int:
    """0/1/2 or kamctl's names (equal, regexp, fnmatch)."""
    text = str(value).strip().lower()
    if text in MATCH_OPS:
        return MATCH_OPS[text]
    op = validate.integer(text, "match_op") if text.lstrip("-").isdigit() else -1
    if op not in OP_NAMES:
        raise BadInput(
            f"match_op {value!r} is not 0/equal, 1/regexp or 2/fnmatch",
        )
    return op


def rule_values(
    dpid: str | int,
    pr: str | int,
    op: str | int,
    match_exp: str,
    match_len: str | int | None = None,
    subst_exp: str | None = None,
    repl_exp: str | None = None,
    attrs: str | None = None,
) -> dict[str, Any]:
    """The checked column values of one rule (BadInput says what Kamailio would refuse)."""
    values = {
        "dpid": validate.integer(dpid, "dpid"),
        "pr": validate.integer(pr, "pr"),
        "match_op": match_op(op),
        "match_exp": validate.text(match_exp, "match_exp", max_len=64),
        "match_len": validate.integer(
            match_len if match_len not in (None, "") else 0, "match_len", minimum=0
        ),
        "subst_exp": validate.text(subst_exp or "", "subst_exp", max_len=64),
        "repl_exp": validate.text(repl_exp or "", "repl_exp", max_len=256),
        "attrs": validate.text(attrs or "", "attrs", max_len=64),
    }
    if not values["match_exp"] and values["match_op"] != 1:
        raise BadInput("match_exp must not be empty (an empty one never matches)")
    try:
        Rule(**values)
    except DialplanError as exc:
        raise BadInput(str(exc)) from None
    return values


def add(
    db: peewee.Database,
    dpid: str | int,
    pr: str | int,
    op: str | int,
    match_exp: str,
    match_len: str | int | None = None,
    subst_exp: str | None = None,
    repl_exp: str | None = None,
    attrs: str | None = None,
) -> Change:
    """Insert a rule; refuse an exact duplicate of an existing one."""
    values = rule_values(dpid, pr, op, match_exp, match_len, subst_exp, repl_exp, attrs)
    D = models.Dialplan
    with reading("dialplan"):
        where = None
        for column, value in values.items():
            cond = getattr(D, column) == value
            where = cond if where is None else where & cond
        if D.select(D.id).where(where).exists():
            raise AlreadyExists(f"this rule is already in dialplan {values['dpid']}")
    with transaction(db, "dialplan"):
        new_id = D.insert(**values).execute()
    return Change(
        "dialplan",
        "added",
        [{"id": new_id, **values}],
        1,
        f"rule added to dialplan {values['dpid']} (priority {values['pr']})",
    )


def remove(
    db: peewee.Database,
    dpid: str | int | None = None,
    pr: str | int | None = None,
    *,
    rule_id: str | int | None = None,
    whole: bool = False,
) -> Change:
    """Delete rules: one by ``rule_id``, those of ``dpid`` with priority ``pr`` (kamctl
    rmrule), or every rule of ``dpid`` with ``whole`` (kamctl rmdpid)."""
    D = models.Dialplan
    if rule_id is not None:
        where = D.id == validate.integer(rule_id, "id", minimum=0)
        what = f"dialplan rule {rule_id}"
    elif dpid is None:
        raise BadInput("give DPID (and PR, or --all) or --id")
    elif pr is not None:
        where = (D.dpid == validate.integer(dpid, "dpid")) & (D.pr == validate.integer(pr, "pr"))
        what = f"rules of priority {pr} in dialplan {dpid}"
    elif whole:
        where = D.dpid == validate.integer(dpid, "dpid")
        what = f"dialplan {dpid}"
    else:
        raise BadInput("give the priority of the rules to remove, or --all for the whole dpid")
    with transaction(db, "dialplan"):
        rows = [_row(r) for r in D.select().where(where).order_by(D.id)]
        if rows:
            D.delete().where(where).execute()
    if not rows:
        raise NotFound(f"no {what}")
    return Change("dialplan", "removed", rows, len(rows), f"{len(rows)} rule(s) removed: {what}")


def show(db: peewee.Database, dpid: str | int | None = None) -> list[dict[str, Any]]:
    """Rows by dpid, priority and id (kamctl dialplan show)."""
    D = models.Dialplan
    query = D.select().order_by(D.dpid, D.pr, D.id)
    if dpid is not None:
        query = query.where(D.dpid == validate.integer(dpid, "dpid"))
    with reading("dialplan"):
        return [_row(r) for r in query]


def load(db: peewee.Database) -> Dialplan:
    """The table as Kamailio loads it. A row Kamailio would refuse is an error naming it
    (Kamailio's reload would fail on it and keep the old rules)."""
    rules = []
    for row in show(db):
        try:
            rules.append(Rule.from_row(row))
        except DialplanError as exc:
            raise BadInput(f"dialplan row {row['id']} would not load in Kamailio: {exc}") from None
    return Dialplan(rules)


def translate(db: peewee.Database, dpid: str | int, value: str) -> dict[str, Any]:
    """``dialplan.translate`` offline: ``{"Output", "Attributes"}`` plus the deciding rule's
    id; NotFound with Kamailio's messages when the dpid has no rule or nothing translates."""
    number = validate.integer(dpid, "dpid")
    plan = load(db)
    if number not in plan:
        raise NotFound(f"Dialplan ID not matched: no rule has dpid {number}")
    if not value:
        raise BadInput("Empty input parameter")
    result = plan.translate(number, value)
    if result is None:
        raise NotFound(f"No translation of {value!r} in dialplan {number}")
    # Kamailio answers null for a rule without attrs: the same here
    attrs = result.attrs or None
    return {"Output": result.output, "Attributes": attrs, "rule_id": result.rule.id}


def _check_cells(cells: Mapping[str, str]) -> dict[str, Any]:
    return rule_values(
        cells.get("dpid", ""), cells.get("pr") or 0, cells.get("match_op", ""),
        cells.get("match_exp", ""), cells.get("match_len"), cells.get("subst_exp"),
        cells.get("repl_exp"), cells.get("attrs"),
    )  # fmt: skip


def import_csv(
    db: peewee.Database, stream: TextIO, *, progress: Callable[[int], None] | None = None
) -> Change:
    """Add the rules of a CSV file (header: dpid, pr, match_op, match_exp, match_len,
    subst_exp, repl_exp, attrs; dpid, match_op and match_exp required), all or nothing."""
    entries = csvrows.read(stream, COLUMNS, REQUIRED, _check_cells)
    rows = [values for _, values in entries]
    csvrows.insert(db, models.Dialplan, rows, "dialplan", progress=progress)
    return Change("dialplan", "imported", rows, len(rows), f"{len(rows)} dialplan rules imported")
