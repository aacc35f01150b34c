"""Bulk import of subscribers from CSV (``kamtool import FILE.csv``).

Accepted layouts, UTF-8, comma separated (``;`` and tab are detected too):

* no header: ``USER,PASSWORD`` per line, USER being ``user``, ``user@domain`` or
  ``sip:user@domain`` as for ``kamtool add``;
* a header naming the columns, in any order: ``username`` (or ``user``), ``password``,
  optional ``domain``. A domain inside ``username`` wins over the ``domain`` column,
  which wins over the default domain.

The whole file is checked first (every bad line is reported with its number, and a
user already in the database or twice in the file is an error unless
``skip_existing``); then all rows go in one transaction, so an import either happens
completely or not at all. Rows are the same as ``kamtool add`` writes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

from kamtool.core import validate
from kamtool.core.users import User, credential_columns, parse_user
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, KamtoolError

# 5 columns per row: stays under SQLite's historic limit of 999 bound parameters.
BATCH = 150
MAX_REPORTED = 10


@dataclass(frozen=True)
class Entry:
    """One subscriber to import: the CSV line number, the user and the column values."""

    line: int
    user: User
    columns: dict[str, str]


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def read_csv(
    stream: TextIO, *, default_domain: str | None, store_plaintext: bool, algorithm: str = "MD5"
) -> list[Entry]:
    """Parse and check every line; BadInput lists the bad lines (no passwords shown)."""
    text = stream.read()
    rows = list(csv.reader(io.StringIO(text), _dialect(text[:4096])))
    header: dict[str, int] | None = None
    first = [c.strip().lower() for c in rows[0]] if rows else []
    if "password" in first:
        header = {name: i for i, name in enumerate(first)}
        if "user" in header and "username" not in header:
            header["username"] = header["user"]
        if "username" not in header:
            raise BadInput("the CSV header has a password column but no username column")
    entries: list[Entry] = []
    problems: list[str] = []
    seen: dict[User, int] = {}
    for number, row in enumerate(rows, start=1):
        if header is not None and number == 1:
            continue
        if not any(cell.strip() for cell in row):
            continue  # blank line
        try:
            entry = _entry(number, row, header, default_domain, store_plaintext, algorithm)
        except KamtoolError as exc:
            problems.append(f"line {number}: {exc.message}")
            continue
        if entry.user in seen:
            problems.append(f"line {number}: '{entry.user}' is also on line {seen[entry.user]}")
            continue
        seen[entry.user] = number
        entries.append(entry)
    if problems:
        raise BadInput(_summary(problems, "bad line"), problems=problems[:MAX_REPORTED])
    return entries


def _entry(
    number: int,
    row: list[str],
    header: dict[str, int] | None,
    default_domain: str | None,
    store_plaintext: bool,
    algorithm: str = "MD5",
) -> Entry:
    def cell(name: str, position: int) -> str:
        index = header.get(name) if header is not None else position
        if index is None or index >= len(row):
            return ""
        return row[index].strip()

    spec, password = cell("username", 0), cell("password", 1)
    if not spec:
        raise BadInput("no user name")
    if not password:
        raise BadInput("no password")
    if header is not None and len(row) > len(header):
        raise BadInput("more cells than the header names")
    domain = cell("domain", -1) if header is not None and "domain" in header else ""
    user = parse_user(spec, domain or default_domain)
    validate.domain_name(user.domain, new=True)  # as `kamtool add` checks a new row
    columns = credential_columns(
        user, password, store_plaintext=store_plaintext, algorithm=algorithm
    )
    return Entry(number, user, columns)


def _summary(problems: list[str], what: str) -> str:
    shown = "; ".join(problems[:MAX_REPORTED])
    more = len(problems) - MAX_REPORTED
    tail = f" (and {more} more)" if more > 0 else ""
    return f"{len(problems)} {what}{'s' if len(problems) != 1 else ''}: {shown}{tail}"


# shared with kamtool.core.csvrows (the table imports: dialplan, mtree, lcr)
sniff_dialect = _dialect
summary = _summary


def existing(entries: Iterable[Entry]) -> set[User]:
    """The users among ``entries`` that are in the subscriber table already."""
    S = models.Subscriber
    wanted = {e.user for e in entries}
    found: set[User] = set()
    domains = sorted({u.domain for u in wanted})
    with reading("subscriber"):
        for start in range(0, len(domains), BATCH):
            query = S.select(S.username, S.domain).where(
                S.domain.in_(domains[start : start + BATCH])
            )
            for r in query.tuples().iterator():
                user = User(r[0], r[1])
                if user in wanted:
                    found.add(user)
    return found


def import_users(
    db: peewee.Database,
    entries: list[Entry],
    *,
    skip_existing: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Change:
    """Insert ``entries`` in one transaction; ``progress(n)`` after each batch of n rows."""
    present = existing(entries)
    if present and not skip_existing:
        lines = [
            f"line {e.line}: user '{e.user}' already exists" for e in entries if e.user in present
        ]
        raise AlreadyExists(
            _summary(lines, "existing user"), hint="use --skip-existing to leave them alone"
        )
    todo = [e for e in entries if e.user not in present]
    S = models.Subscriber
    with transaction(db, "imported users"):
        for start in range(0, len(todo), BATCH):
            batch = todo[start : start + BATCH]
            S.insert_many(
                [{"username": e.user.username, "domain": e.user.domain, **e.columns} for e in batch]
            ).execute()
            if progress is not None:
                progress(len(batch))
    rows = [{"username": e.user.username, "domain": e.user.domain} for e in todo]
    message = f"{len(todo)} user{'' if len(todo) == 1 else 's'} imported" + (
        f", {len(present)} existing skipped" if present else ""
    )
    change = Change("subscriber", "imported", rows, len(todo), message)
    return change
