"""Bulk import of table rows from CSV with a header line (dialplan, mtree, lcr ...).

The first line names the columns (any order, case-insensitive); each later line is
checked by the table's own ``check(cells) -> values`` (the function its ``add`` command
uses), every bad line is reported with its number, and only a file without a bad line is
written, in one transaction. Blank lines are skipped. The delimiter (``,``, ``;``, tab)
is detected as ``kamtool import`` does.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

from kamtool.core.importer import BATCH, MAX_REPORTED, sniff_dialect, summary
from kamtool.core.writes import transaction
from kamtool.db.orm import peewee
from kamtool.errors import BadInput, KamtoolError

Check = Callable[[Mapping[str, str]], dict[str, Any]]


def read(
    stream: TextIO, columns: Iterable[str], required: Iterable[str], check: Check
) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, values)`` of every line, or BadInput listing the bad lines."""
    text = stream.read()
    rows = list(csv.reader(io.StringIO(text), sniff_dialect(text[:4096])))
    if not rows:
        raise BadInput("the CSV file is empty (it needs a header line naming the columns)")
    header = [c.strip().lower() for c in rows[0]]
    known = list(columns)
    unknown = [c for c in header if c not in known]
    if unknown:
        raise BadInput(
            f"unknown column(s) in the CSV header: {', '.join(unknown)}",
            hint=f"the columns are: {', '.join(known)}",
        )
    missing = [c for c in required if c not in header]
    if missing:
        raise BadInput(f"the CSV header lacks the column(s): {', '.join(missing)}")
    entries: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            problems.append(f"line {number}: more cells than the header names")
            continue
        cells = {name: row[i].strip() for i, name in enumerate(header) if i < len(row)}
        try:
            entries.append((number, check(cells)))
        except KamtoolError as exc:
            problems.append(f"line {number}: {exc.message}")
    if problems:
        raise BadInput(summary(problems, "bad line"), problems=problems[:MAX_REPORTED])
    return entries


def insert(
    db: peewee.Database,
    model: Any,
    rows: list[dict[str, Any]],
    what: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Insert ``rows`` into ``model`` in one transaction, in batches."""
    width = max((len(r) for r in rows), default=1)
    size = max(1, min(BATCH, 900 // width))  # under SQLite's 999 bound parameters
    with transaction(db, what):
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            model.insert_many(batch).execute()
            if progress is not None:
                progress(len(batch))
