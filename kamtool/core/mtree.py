"""The mtree module's ``mtrees`` table: named prefix trees (kamcli mtree).

``add TNAME TPREFIX TVALUE`` writes one row; prefixes are checked against the module's
``char_list`` (``0123456789`` unless the server sets another: ``--char-list``), because
one bad row makes Kamailio's whole load fail. ``match`` looks a value up offline with
the module's rules (:mod:`kamtool.core.mtree_engine`). Kamailio caches the trees: the
CLI asks for ``mtree.reload`` after an edit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TextIO

from kamtool.core import csvrows, validate
from kamtool.core.mtree_engine import DEFAULT_CHAR_LIST, Mtree, MtreeError
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound

COLUMNS = ("tname", "tprefix", "tvalue")


def _row(r: Any) -> dict[str, Any]:
    return {"id": r.id, "tname": r.tname, "tprefix": r.tprefix, "tvalue": r.tvalue}


def row_values(
    tname: str, tprefix: str, tvalue: str, *, char_list: str = DEFAULT_CHAR_LIST
) -> dict[str, str]:
    """Checked column values of one row."""
    values = {
        "tname": validate.text(tname, "tree name", max_len=128, allow_empty=False),
        "tprefix": validate.text(tprefix, "prefix", max_len=32, allow_empty=False),
        "tvalue": validate.text(tvalue, "value", max_len=128, allow_empty=False),
    }
    try:
        Mtree(char_list).check_prefix(values["tprefix"])
    except MtreeError as exc:
        raise BadInput(str(exc), hint="the server's char_list: --char-list") from None
    return values


def add(
    db: peewee.Database,
    tname: str,
    tprefix: str,
    tvalue: str,
    *,
    char_list: str = DEFAULT_CHAR_LIST,
) -> Change:
    """Insert a row; a prefix already in the tree is refused (Kamailio would not load it)."""
    values = row_values(tname, tprefix, tvalue, char_list=char_list)
    M = models.Mtrees
    with reading("mtrees"):
        dup = M.select(M.tvalue).where(
            (M.tname == values["tname"]) & (M.tprefix == values["tprefix"])
        )
        existing = dup.first()
    if existing is not None:
        raise AlreadyExists(
            f"prefix {values['tprefix']} is in tree {values['tname']} already "
            f"(value {existing.tvalue})"
        )
    with transaction(db, "mtrees"):
        new_id = M.insert(**values).execute()
    return Change(
        "mtree", "added", [{"id": new_id, **values}], 1,
        f"prefix {values['tprefix']} added to tree {values['tname']}",
    )  # fmt: skip


def remove(
    db: peewee.Database, tname: str, tprefix: str | None = None, *, whole: bool = False
) -> Change:
    """Delete a prefix of a tree, or the whole tree with ``whole``."""
    M = models.Mtrees
    where = M.tname == tname
    if tprefix is not None:
        where &= M.tprefix == tprefix
        what = f"prefix {tprefix} in tree {tname}"
    elif whole:
        what = f"tree {tname}"
    else:
        raise BadInput("give the prefix to remove, or --all for the whole tree")
    with transaction(db, "mtrees"):
        rows = [_row(r) for r in M.select().where(where).order_by(M.id)]
        if rows:
            M.delete().where(where).execute()
    if not rows:
        raise NotFound(f"no {what}")
    return Change("mtree", "removed", rows, len(rows), f"{len(rows)} row(s) removed: {what}")


def show(db: peewee.Database, tname: str | None = None) -> list[dict[str, Any]]:
    """Rows by tree and prefix."""
    M = models.Mtrees
    query = M.select().order_by(M.tname, M.tprefix, M.id)
    if tname is not None:
        query = query.where(M.tname == tname)
    with reading("mtrees"):
        return [_row(r) for r in query]


def load(db: peewee.Database, char_list: str = DEFAULT_CHAR_LIST) -> Mtree:
    """The trees as Kamailio loads them; a row it would refuse is an error naming it."""
    trees = Mtree(char_list)
    for row in show(db):
        if not (row["tname"] and row["tprefix"] and row["tvalue"]):
            continue  # Kamailio skips such rows
        try:
            trees.add(row["tname"], row["tprefix"], row["tvalue"])
        except MtreeError as exc:
            raise BadInput(f"mtrees row {row['id']} would not load in Kamailio: {exc}") from None
    return trees


def match(
    db: peewee.Database,
    tname: str,
    value: str,
    *,
    every: bool = False,
    char_list: str = DEFAULT_CHAR_LIST,
) -> list[dict[str, str]]:
    """``mtree.match`` offline: ``[{"PREFIX", "TVALUE"}]`` (the longest prefix, or with
    ``every`` all of them); NotFound as Kamailio's 404s."""
    trees = load(db, char_list)
    if tname not in trees:
        raise NotFound(f"Tree not found: {tname}")
    found = trees.match_all(tname, value) if every else [trees.match(tname, value)]
    result = [{"PREFIX": m.prefix, "TVALUE": m.value} for m in found if m is not None]
    if not result:
        raise NotFound(f"Prefix not found: no prefix of {value!r} in tree {tname}")
    return result


def import_csv(
    db: peewee.Database,
    stream: TextIO,
    *,
    char_list: str = DEFAULT_CHAR_LIST,
    progress: Callable[[int], None] | None = None,
) -> Change:
    """Add the rows of a CSV file (header: tname, tprefix, tvalue), all or nothing; a prefix
    twice in the file or already in the table is a bad line."""
    seen: dict[tuple[str, str], bool] = {}

    def check(cells: Mapping[str, str]) -> dict[str, Any]:
        values = row_values(
            cells.get("tname", ""), cells.get("tprefix", ""), cells.get("tvalue", ""),
            char_list=char_list,
        )  # fmt: skip
        key = (values["tname"], values["tprefix"])
        if key in seen:
            raise BadInput(f"prefix {key[1]} of tree {key[0]} is on an earlier line too")
        seen[key] = True
        return values

    entries = csvrows.read(stream, COLUMNS, COLUMNS, check)
    M = models.Mtrees
    with reading("mtrees"):
        present = {(r.tname, r.tprefix) for r in M.select(M.tname, M.tprefix)}
    clashes = [
        f"line {n}: prefix {v['tprefix']} is in tree {v['tname']} already"
        for n, v in entries
        if (v["tname"], v["tprefix"]) in present
    ]
    if clashes:
        raise AlreadyExists(f"{len(clashes)} prefix(es) exist already: " + "; ".join(clashes[:10]))
    rows = [values for _, values in entries]
    csvrows.insert(db, M, rows, "mtrees", progress=progress)
    return Change("mtree", "imported", rows, len(rows), f"{len(rows)} mtree rows imported")
