"""Kamailio 5.6's database schema, read from kamtool's one declarative source.

The source is ``schema/kamailio-5.6.json`` in the source tree; it ships inside the
package as ``kamtool/db/kamailio-5.6.json`` (a symlink in the tree, a real file in
wheels), so nothing from Kamailio is needed at run time. Models (``kamtool.db.models``)
and per-engine DDL (``kamtool.db.ddl``) both follow from the objects defined here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from kamtool.errors import BadInput

SCHEMA_FILE = "kamailio-5.6.json"
#: kamdbctl's groups, in the order ``kamdbctl create`` installs them.
GROUP_NAMES = ("standard", "presence", "extra")


@dataclass(frozen=True)
class Column:
    """One column: generic type, size for strings, NULL-ability and default."""

    name: str
    type: str  # int, unsigned int, short, unsigned short, string, text, largetext,
    # binary, largebinary, datetime, float
    size: int | None = None
    null: bool = False
    has_default: bool = False
    default: Any = None  # typed: str, int, float, None (NULL); datetimes as text
    default_sql: str | None = None  # the literal when the typed value would print differently
    autoincrement: bool = False
    mysql: str | None = None  # exact MySQL type where it differs from the generic default


@dataclass(frozen=True)
class Index:
    """An index or unique key; ``name`` is MySQL's (others prefix ``<table>_``)."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class Table:
    """One table of the schema with its ``version`` number and kamdbctl group."""

    name: str
    module: str
    group: str
    version: int
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...]  # unique keys first, then plain indexes, in Kamailio's order
    # the version Kamailio's own schema files write where their modules refuse it
    # (``aliases``: 8, usrloc wants 9; see schema/generate.py); same columns either way
    kamailio_files_version: int | None = None

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def unique_keys(self) -> tuple[Index, ...]:
        return tuple(i for i in self.indexes if i.unique)

    @property
    def plain_indexes(self) -> tuple[Index, ...]:
        return tuple(i for i in self.indexes if not i.unique)


def _column(doc: dict[str, Any]) -> Column:
    return Column(
        name=doc["name"],
        type=doc["type"],
        size=doc.get("size"),
        null=doc.get("null", False),
        has_default="default" in doc,
        default=doc.get("default"),
        default_sql=doc.get("default_sql"),
        autoincrement=doc.get("autoincrement", False),
        mysql=doc.get("mysql"),
    )


@cache
def _load() -> dict[str, Any]:
    text = resources.files("kamtool.db").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def _table(name: str, doc: dict[str, Any]) -> Table:
    idx = [Index(i["name"], tuple(i["columns"]), True) for i in doc["unique"]]
    idx += [Index(i["name"], tuple(i["columns"]), False) for i in doc["indexes"]]
    return Table(
        name=name,
        module=doc["module"],
        group=doc["group"],
        version=doc["version"],
        columns=tuple(_column(c) for c in doc["columns"]),
        primary_key=tuple(doc["primary_key"]),
        indexes=tuple(idx),
        kamailio_files_version=doc.get("kamailio_files_version"),
    )


@cache
def table(name: str) -> Table:
    """The table called ``name`` (KeyError when kamtool does not know it).

    Built on its own: a command that touches two tables does not pay for all 63.
    """
    return _table(name, _load()["tables"][name])


@cache
def tables() -> dict[str, Table]:
    """Every table of the standard, presence and extra groups, in kamdbctl's order."""
    return {name: table(name) for name in _load()["tables"]}


def table_names(groups: Iterable[str] | None = None) -> list[str]:
    """The names of the tables of ``groups`` (default all three) in kamdbctl's order,
    without building the :class:`Table` objects."""
    chosen = check_groups(groups)
    return [name for name, doc in _load()["tables"].items() if doc["group"] in chosen]


def kamailio_version() -> str:
    """The Kamailio release the schema was taken from."""
    return str(_load()["kamailio"])


def group_modules() -> dict[str, list[str]]:
    """Group -> Kamailio modules whose tables it holds (kamdbctl's lists, in order)."""
    return {g: list(m) for g, m in _load()["groups"].items()}


def check_groups(groups: Iterable[str] | None) -> tuple[str, ...]:
    """Validate group names (``None`` or empty: all three), in kamdbctl's order."""
    wanted = set(groups or GROUP_NAMES)
    unknown = wanted - set(GROUP_NAMES)
    if unknown:
        raise BadInput(
            f"unknown schema group {', '.join(sorted(unknown))!s}",
            hint="groups are: " + ", ".join(GROUP_NAMES),
        )
    return tuple(g for g in GROUP_NAMES if g in wanted)


def tables_in(groups: Iterable[str] | None = None) -> list[Table]:
    """The tables of ``groups`` (default all three) in the order kamdbctl creates them."""
    chosen = check_groups(groups)
    return [t for t in tables().values() if t.group in chosen]


def expected_versions(groups: Iterable[str] | None = None) -> dict[str, int]:
    """``table_name -> table_version`` as ``kamdbctl create`` writes them to ``version``."""
    return {t.name: t.version for t in tables_in(groups)}
