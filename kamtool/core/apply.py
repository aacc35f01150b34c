"""``kamtool apply | export | drift``: bring the database to a desired-state file, write the
database as one, and compare file, database and the running server's memory.

The plan is computed from the file and the database; ``apply`` makes every step in one
transaction, then asks the server to reload each table it caches whose rows changed
(domain, address, trusted, dispatcher, dialplan). ``drift`` names each difference: file
vs database (what ``apply`` would do) and database vs memory (dispatcher.list,
permissions and domain dumps), the latter being what a skipped reload leaves behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kamtool.core.desired import KINDS, SECRET_COLUMNS, Desired, Kind, Step, diff, key_of
from kamtool.core.writes import transaction
from kamtool.db import models
from kamtool.db.orm import peewee


def read_rows(kind: Kind) -> list[dict[str, Any]]:
    """Every row of ``kind``'s table (bound models), as column dicts with ``id``."""
    model = models.MODELS[kind.table]
    cols = ("id", *kind.key, *kind.values)
    return [{c: getattr(r, c) for c in cols} for r in model.select().order_by(model.id)]


def plan(db: peewee.Database, desired: Desired) -> list[Step]:
    """The steps that make the managed tables what ``desired`` says, removals first."""
    steps: list[Step] = []
    with db.atomic():
        for section in desired.managed():
            kind = KINDS[section]
            steps += diff(kind, desired.rows[section], read_rows(kind))
    order = {"remove": 0, "update": 1, "add": 2}
    return sorted(steps, key=lambda s: order[s.action])


def execute(db: peewee.Database, steps: list[Step]) -> list[str]:
    """Make ``steps`` in one transaction (all or nothing); the sections that changed."""
    changed: list[str] = []
    with transaction(db, "the desired state"):
        for step in steps:
            kind = KINDS[step.section]
            model = models.MODELS[kind.table]
            if step.action == "remove":
                model.delete().where(model.id == step.row_id).execute()
            elif step.action == "update":
                cols = SECRET_COLUMNS if step.section == "subscribers" else step.changed
                model.update({c: step.row[c] for c in cols if c in step.row}).where(
                    model.id == step.row_id).execute()  # fmt: skip
            else:
                row = {c: v for c, v in step.row.items() if c != "id"}
                if step.section == "subscribers":
                    row = {"password": "", "ha1": "", "ha1b": "", **row}
                model.insert(**row).execute()
            if step.section not in changed:
                changed.append(step.section)
    return changed


# --------------------------------------------------------------------------- export


def export(db: peewee.Database, sections: Iterable[str] | None = None, *,
           secrets: bool = False) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """The database as a desired-state document (ha1/ha1b only with ``secrets``)."""
    doc: dict[str, list[dict[str, Any]]] = {}
    for section in sections or KINDS:
        kind = KINDS[section]
        rows = read_rows(kind)
        doc[section] = _EXPORTERS[section](rows, secrets)
    return doc


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != ""}


def _export_subscribers(rows: list[dict[str, Any]], secrets: bool) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        entry = {"user": f"{r['username']}@{r['domain']}"}
        if secrets and r.get("ha1"):
            entry.update(ha1=r["ha1"], ha1b=r.get("ha1b") or "")
        out.append(entry)
    return out


def _export_acl(rows: list[dict[str, Any]], secrets: bool) -> list[dict[str, Any]]:
    groups: dict[str, list[str]] = {}
    for r in rows:
        groups.setdefault(f"{r['username']}@{r['domain']}", []).append(str(r["grp"]))
    return [{"user": u, "groups": g} for u, g in groups.items()]


_EXPORTERS = {
    "subscribers": _export_subscribers,
    "domains": lambda rows, s: [_clean({"domain": r["domain"], "did": r["did"]}) for r in rows],
    "aliases": lambda rows, s: [{"alias": f"{r['alias_username']}@{r['alias_domain']}",
                                 "user": f"{r['username']}@{r['domain']}"} for r in rows],
    "acl": _export_acl,
    "address": lambda rows, s: [_clean({"group": r["grp"], "ip": r["ip_addr"], "mask": r["mask"],
                                        "port": r["port"], "tag": r["tag"]}) for r in rows],
    "trusted": lambda rows, s: [_clean({k: r[k] for k in ("src_ip", "proto", "from_pattern",
                                        "ruri_pattern", "tag", "priority")}) for r in rows],
    "dispatcher": lambda rows, s: [_clean({"set": r["setid"], "uri": r["destination"],
                                           "flags": r["flags"], "priority": r["priority"],
                                           "attrs": r["attrs"],
                                           "description": r["description"]}) for r in rows],
    "dialplan": lambda rows, s: [_clean({k: r[k] for k in ("dpid", "pr", "match_op",
                                         "match_exp", "match_len", "subst_exp", "repl_exp",
                                         "attrs")}) for r in rows],
}  # fmt: skip


def to_toml(doc: dict[str, list[dict[str, Any]]]) -> str:
    """A desired-state document as TOML (arrays of tables; values are text, numbers, lists
    of text). Empty sections come first: after a ``[[table]]`` a ``key = []`` would
    belong to that table."""
    import json

    lines = [f"{section} = []" for section, entries in doc.items() if not entries]
    if lines:
        lines.append("")
    for section, entries in doc.items():
        for entry in entries:
            lines.append(f"[[{section}]]")
            for k, v in entry.items():
                # JSON strings and lists of strings are valid TOML basic strings/arrays
                lines.append(f"{k} = {json.dumps(v, ensure_ascii=False)}")
            lines.append("")
    return "\n".join(lines)


def to_yaml(doc: dict[str, list[dict[str, Any]]]) -> str:
    import yaml

    return str(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


# --------------------------------------------------------------------------- drift


@dataclass
class Difference:
    """One way the file, the database and the running server disagree."""

    where: str  # "file/db" or "db/memory"
    table: str
    what: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "table": self.table, "what": self.what,
                "detail": self.detail}  # fmt: skip


_STEP_WORDS = {"add": "in the file, not in the database",
               "remove": "in the database, not in the file",
               "update": "differs"}  # fmt: skip


def file_differences(steps: list[Step]) -> list[Difference]:
    out = []
    for step in steps:
        d = step.to_dict()
        detail = _STEP_WORDS[step.action]
        if step.changed:
            detail += ": " + ", ".join(step.changed)
        out.append(Difference("file/db", d["table"], d["what"], detail))
    return out


@dataclass
class MemoryCheck:
    """What the running server held, per table, or why it could not be read."""

    rows: dict[str, set[tuple[Any, ...]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def read_memory(rpc: Any, tables: Iterable[str]) -> MemoryCheck:
    """The cached tables as the server holds them (dispatcher, address, trusted, domain)."""
    from kamtool.core.runtime import dispatcher, domains, permissions
    from kamtool.errors import KamtoolError

    readers = {
        "dispatcher": lambda: {(int(r["set_id"]), str(r["uri"]))
                               for r in dispatcher.list_destinations(rpc)},
        "address": lambda: {(int(r["group"]), str(r["ip"]), int(r["mask"]), int(r["port"] or 0))
                            for r in permissions.address_dump(rpc)},
        "trusted": lambda: {(str(r["src_ip"]), str(r["proto"]).lower())
                            for r in permissions.trusted_dump(rpc)},
        "domain": lambda: {(str(r["domain"]),) for r in domains.dump(rpc)},
    }  # fmt: skip
    check = MemoryCheck()
    for table in tables:
        if table not in readers:
            continue
        try:
            check.rows[table] = readers[table]()
        except KamtoolError as exc:
            check.errors[table] = exc.message
    return check


def database_keys(table: str) -> set[tuple[Any, ...]]:
    """The rows of a cached table as the memory readers key them."""
    kind = next(k for k in KINDS.values() if k.table == table)
    rows = read_rows(kind)
    if table == "dispatcher":
        return {(int(r["setid"]), str(r["destination"])) for r in rows}
    if table == "address":
        return {(int(r["grp"]), str(r["ip_addr"]), int(r["mask"]), int(r["port"])) for r in rows}
    if table == "trusted":
        return {(str(r["src_ip"]), str(r["proto"]).lower()) for r in rows}
    return {key_of(kind, r) for r in rows}


def memory_differences(db_keys: dict[str, set[tuple[Any, ...]]],
                       memory: MemoryCheck) -> list[Difference]:  # fmt: skip
    """Rows in the table but not in memory and the other way round: a reload is due.
    (Tables the server would not dump are in ``memory.errors``: not compared.)"""
    out = []
    for table, held in memory.rows.items():
        stored = db_keys.get(table, set())
        for key in sorted(stored - held, key=str):
            out.append(Difference("db/memory", table, " ".join(map(str, key)),
                                  "in the database, not in the server's memory (reload due)"))
        for key in sorted(held - stored, key=str):
            out.append(Difference("db/memory", table, " ".join(map(str, key)),
                                  "in the server's memory, not in the database (reload due)"))
    return out
