#!/usr/bin/env python3
"""Regenerate ``schema/kamailio-5.6.json`` from Kamailio's installed schema files.

Run by a developer (``python3 schema/generate.py``; ``--check`` only compares); never
at run time. It reads
``/usr/share/kamailio/{mysql,postgres,db_sqlite}/<module>-create.sql`` (Debian packages
kamailio-{mysql,postgres,sqlite}-modules) for the module lists of ``kamdbctl create``,
checks that the three dialects describe the same tables, and writes one engine-neutral
description: generic column types (plus the few MySQL-specific spellings), NULL-ability,
defaults, keys, indexes and version numbers. Only facts are taken from those files.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from kamtool.db.ddl import MYSQL_TYPES

SRC = Path("/usr/share/kamailio")
OUT = Path(__file__).with_name("kamailio-5.6.json")

# Module lists and order of kamdbctl.base (Kamailio 5.6).
GROUPS = {
    "standard": "standard acc lcr domain group permissions registrar usrloc msilo alias_db uri_db "
    "speeddial avpops auth_db pdt dialog dispatcher dialplan topos",
    "presence": "presence rls",
    "extra": "imc cpl siptrace domainpolicy carrierroute drouting userblocklist htable purple uac "
    "pipelimit mtree sca mohqueue rtpproxy rtpengine secfilter",
}

# Version rows Kamailio 5.6's own schema files get wrong: table -> (their number, the one
# Kamailio's modules accept). Kamailio's fault: registrar's schema writes `aliases` at
# version 8, but usrloc checks every table it keeps contacts in (location, aliases, any
# save("name")) against the location version, 9, and a cfg that uses "aliases" does not
# start on a database kamdbctl made ("invalid version 8 for table aliases found, expected
# 9"). The columns are the same as location's; only the number differs. kamtool writes
# the number Kamailio accepts and keeps the other as "kamailio_files_version".
VERSION_FIXES = {"aliases": (8, 9)}

# Default MySQL spelling of each generic type; other spellings are kept as "mysql" overrides.
MYSQL_DEFAULT = MYSQL_TYPES

COLUMN = re.compile(
    r"^\s+`?(\w+)`?\s+(.*?)(?:\s+DEFAULT\s+(NULL|'[^']*'|[-\d.]+))?(\s+NOT NULL)?,?$"
)
UNIQUE = re.compile(r"^\s+CONSTRAINT (\w+) UNIQUE \(([^)]*)\),?$")
INDEX = re.compile(r"^CREATE INDEX (\w+) ON (\w+) \(([^)]*)\);$")
CREATE = re.compile(r"^CREATE TABLE `?(\w+)`? \($")
VERSION = re.compile(
    r"^INSERT INTO version \(table_name, table_version\) values \('(\w+)','(\d+)'\);$"
)


def _cols(text: str) -> list[str]:
    return [c.strip().strip("`") for c in text.split(",")]


def parse(path: Path) -> dict[str, dict]:
    """Tables of one ``*-create.sql`` file, in file order."""
    tables: dict[str, dict] = {}
    cur = None
    for line in path.read_text().splitlines():
        if m := CREATE.match(line):
            cur = tables[m.group(1)] = {"columns": [], "unique": [], "indexes": [], "version": None}
        elif line.startswith(");"):
            cur = None
        elif cur is not None and (m := UNIQUE.match(line)):
            cur["unique"].append({"name": m.group(1), "columns": _cols(m.group(2))})
        elif cur is not None:
            m = COLUMN.match(line)
            assert m, (path, line)
            cur["columns"].append(
                {
                    "name": m.group(1),
                    "sql": m.group(2),
                    "default": m.group(3),
                    "notnull": bool(m.group(4)),
                }
            )
        elif m := INDEX.match(line):
            tables[m.group(2)]["indexes"].append({"name": m.group(1), "columns": _cols(m.group(3))})
        elif m := VERSION.match(line):
            tables[m.group(1)]["version"] = int(m.group(2))
        else:
            assert not line.strip(), (path, line)
    return tables


def generic(my: str, pg: str, lite: str) -> tuple[str, int | None]:
    """The generic type of a column from its three dialect spellings."""
    if m := re.fullmatch(r"VARCHAR\((\d+)\)", pg):
        assert my == lite == pg
        return "string", int(m.group(1))
    if pg == "TIMESTAMP WITHOUT TIME ZONE":
        return "datetime", None
    if pg == "INTEGER":
        return ("unsigned int" if "UNSIGNED" in my else "int"), None
    if pg == "SMALLINT":
        return ("unsigned short" if "UNSIGNED" in my else "short"), None
    if pg == "REAL":
        return "float", None
    if pg == "TEXT":
        return ("largetext" if my == "MEDIUMTEXT" else "text"), None
    if pg == "BYTEA":
        return ("largebinary" if my == "MEDIUMBLOB" else "binary"), None
    raise ValueError((my, pg, lite))


def default_value(sql: str | None, gtype: str) -> tuple[bool, object, str | None]:
    """(has_default, typed value, raw SQL literal when the typed value does not round-trip)."""
    if sql is None:
        return False, None, None
    if sql == "NULL":
        return True, None, None
    if sql.startswith("'"):
        return True, sql[1:-1], None
    if gtype == "string":  # rtpproxy.setid DEFAULT 00: a numeric literal on a VARCHAR
        return True, str(int(sql)), sql
    value = float(sql) if "." in sql or gtype in ("float",) else int(sql)
    raw = sql if str(value) != sql else None
    return True, value, raw


def dumps(doc: dict) -> str:
    """JSON with one column, index or module per line: diff-friendly and readable."""

    def flat(v: object) -> str:
        return json.dumps(v, ensure_ascii=False)

    def table(t: dict) -> str:
        parts = []
        for key, value in t.items():
            if key in ("columns", "unique", "indexes"):
                inner = ",\n".join("    " + flat(x) for x in value)
                parts.append(
                    f"   {flat(key)}: [\n{inner}\n   ]" if value else f"   {flat(key)}: []"
                )
            else:
                parts.append(f"   {flat(key)}: {flat(value)}")
        return "{\n" + ",\n".join(parts) + "\n  }"

    out = ["{"]
    out.append(f' "_about": {flat(doc["_about"])},')
    out.append(f' "kamailio": {flat(doc["kamailio"])},')
    out.append(f' "groups": {flat(doc["groups"])},')
    out.append(' "modules": [\n' + ",\n".join("  " + flat(m) for m in doc["modules"]) + "\n ],")
    tabs = ",\n".join(f"  {flat(n)}: {table(t)}" for n, t in doc["tables"].items())
    out.append(' "tables": {\n' + tabs + "\n }")
    out.append("}")
    return "\n".join(out)


def main() -> int:
    tables: dict[str, dict] = {}
    modules: list[dict] = []
    for group, mods in GROUPS.items():
        for mod in mods.split():
            my = parse(SRC / "mysql" / f"{mod}-create.sql")
            pg = parse(SRC / "postgres" / f"{mod}-create.sql")
            lite = parse(SRC / "db_sqlite" / f"{mod}-create.sql")
            assert list(my) == list(pg) == list(lite), mod
            modules.append({"name": mod, "group": group, "tables": list(my)})
            for name in my:
                t_my, t_pg, t_lite = my[name], pg[name], lite[name]
                assert t_my["version"] == t_pg["version"] == t_lite["version"]
                cols = []
                pk: list[str] = []
                for c_my, c_pg, c_lite in zip(
                    t_my["columns"], t_pg["columns"], t_lite["columns"], strict=True
                ):
                    assert c_my["name"] == c_pg["name"] == c_lite["name"]
                    assert c_my["default"] == c_pg["default"] == c_lite["default"], (name, c_my)
                    assert c_my["notnull"] == c_pg["notnull"] == c_lite["notnull"], (name, c_my)
                    col: dict = {"name": c_my["name"]}
                    if c_pg["sql"] == "SERIAL PRIMARY KEY":
                        assert c_my["sql"] == "INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY"
                        assert c_lite["sql"] == "INTEGER PRIMARY KEY"
                        col.update(type="unsigned int", autoincrement=True, null=False)
                        pk.append(c_my["name"])
                        cols.append(col)
                        continue
                    gtype, size = generic(c_my["sql"], c_pg["sql"], c_lite["sql"])
                    col["type"] = gtype
                    if size is not None:
                        col["size"] = size
                    col["null"] = not c_my["notnull"]
                    has, value, raw = default_value(c_my["default"], gtype)
                    if has:
                        col["default"] = value
                    if raw is not None:
                        col["default_sql"] = raw
                    if gtype != "string" and MYSQL_DEFAULT[gtype] != c_my["sql"]:
                        col["mysql"] = c_my["sql"]
                    cols.append(col)
                # Constraint names: bare on MySQL, prefixed with "<table>_" on PostgreSQL/SQLite.
                for kind in ("unique", "indexes"):
                    for a, b, c in zip(t_my[kind], t_pg[kind], t_lite[kind], strict=True):
                        assert b["name"] == c["name"] == f"{name}_{a['name']}", (name, a, b)
                        assert a["columns"] == b["columns"] == c["columns"]
                version: dict = {"version": t_my["version"]}
                if name in VERSION_FIXES:
                    shipped, accepted = VERSION_FIXES[name]
                    assert t_my["version"] == shipped, (name, t_my["version"])
                    version = {"version": accepted, "kamailio_files_version": shipped}
                tables[name] = {
                    "module": mod,
                    "group": group,
                    **version,
                    "primary_key": pk,
                    "columns": cols,
                    "unique": t_my["unique"],
                    "indexes": t_my["indexes"],
                }
    doc = {
        "_about": "Kamailio 5.6 database schema as made by `kamdbctl create` (standard, presence "
        "and extra groups). Generated by schema/generate.py from Kamailio's schema files; the one "
        "source of kamtool's models and DDL. Generic types: int, unsigned int, short, unsigned "
        "short, string(size), text, largetext, binary, largebinary, datetime, float. 'mysql' is "
        "the exact MySQL spelling where it differs from the generic default; index and unique key "
        "names are MySQL's (PostgreSQL and SQLite prefix them with '<table>_').",
        "kamailio": "5.6.3",
        "groups": {g: [m["name"] for m in modules if m["group"] == g] for g in GROUPS},
        "modules": modules,
        "tables": tables,
    }
    text = dumps(doc) + "\n"
    if "--check" in sys.argv[1:]:  # CI: the committed file is what the generator makes
        same = OUT.read_text() == text
        print(f"{OUT}: {'up to date' if same else 'OUT OF DATE'}", file=sys.stderr)
        return 0 if same else 1
    OUT.write_text(text)
    print(f"{OUT}: {len(tables)} tables", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
