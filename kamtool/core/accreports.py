"""Accounting reports over the ``acc``, ``missed_calls`` and ``acc_cdrs`` tables (kamcli's
``acc report``, ``acc method-stats``, ``acc cdrs-generate`` ...), over a time range.

Kamailio's acc module writes the caller, callee and source address only into columns the
operator adds and names in ``db_extra`` (kamcli's ``acc-struct-update`` adds
``src_user``, ``src_domain``, ``src_ip``, ``dst_ouser``, ``dst_user``, ``dst_domain``,
``cdr_id``); :func:`struct_update` adds the same. A report that needs such a column
fails with a hint when it is missing.

CDRs: an answered INVITE (2xx) and the first BYE of the same Call-ID and tags (either
direction) make one ``acc_cdrs`` row: ``start_time``, ``end_time``, ``duration`` (Kamailio's
columns) plus ``callid``, ``from_tag``, ``to_tag``, ``src_user``, ``dst_user`` (extra
columns, as Kamailio's ``cdr_extra`` would write them), never twice for one call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import BadInput, SchemaError

STRUCT_HINT = "kamtool acc struct-update (and name the columns in acc's db_extra)"
# kamcli's acc-struct-update columns (acc and missed_calls)
ACC_EXTRA = {
    "src_user": "VARCHAR(64) NOT NULL DEFAULT ''",
    "src_domain": "VARCHAR(128) NOT NULL DEFAULT ''",
    "src_ip": "VARCHAR(64) NOT NULL DEFAULT ''",
    "dst_ouser": "VARCHAR(64) NOT NULL DEFAULT ''",
    "dst_user": "VARCHAR(64) NOT NULL DEFAULT ''",
    "dst_domain": "VARCHAR(128) NOT NULL DEFAULT ''",
    "cdr_id": "INTEGER NOT NULL DEFAULT 0",
}
CDR_EXTRA = {
    "callid": "VARCHAR(255) NOT NULL DEFAULT ''",
    "from_tag": "VARCHAR(128) NOT NULL DEFAULT ''",
    "to_tag": "VARCHAR(128) NOT NULL DEFAULT ''",
    "src_user": "VARCHAR(64) NOT NULL DEFAULT ''",
    "dst_user": "VARCHAR(64) NOT NULL DEFAULT ''",
}
REPORTS = {"top-src": "src_user", "top-dst": "dst_user", "top-odst": "dst_ouser",
           "top-srcip": "src_ip"}  # fmt: skip

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Range:
    """``since <= time < until`` in the server's local time (what acc writes)."""

    since: datetime
    until: datetime

    def to_dict(self) -> dict[str, str]:
        return {"since": self.since.isoformat(sep=" "), "until": self.until.isoformat(sep=" ")}


def parse_when(text: str, now: datetime) -> datetime:
    """``24h``, ``30m``, ``7d``, ``2w`` (that long before ``now``) or an ISO date/time."""
    text = text.strip()
    m = _RELATIVE.match(text)
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{text!r} is neither a time (2026-01-31 or 2026-01-31T08:00) nor "
                       "a span such as 24h, 7d") from None  # fmt: skip


def time_range(since: str | None, until: str | None, now: datetime | None = None) -> Range:
    """The range of ``--since`` (default 24 h ago, kamcli's interval) and ``--until``
    (default now)."""
    now = now or datetime.now().replace(microsecond=0)
    r = Range(parse_when(since or "24h", now), parse_when(until, now) if until else now)
    if r.since >= r.until:
        raise BadInput(f"--since {r.since} is not before --until {r.until}")
    return r


def _columns(db: peewee.Database, table: str) -> set[str]:
    return {c.name for c in db.get_columns(table)}


def _need(db: peewee.Database, table: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in _columns(db, table)]
    if missing:
        raise SchemaError(f"table {table} has no column {', '.join(missing)}", hint=STRUCT_HINT,
                          missing=missing)  # fmt: skip


def _where_time(table: str, r: Range) -> tuple[str, list[Any]]:
    field = models.MODELS[table].time
    return "time >= {p} AND time < {p}", [field.db_value(r.since), field.db_value(r.until)]


def _sql(db: peewee.Database, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return list(db.execute_sql(sql.replace("{p}", db.param), params).fetchall())


def top(db: peewee.Database, report: str, r: Range, limit: int = 20) -> list[dict[str, Any]]:
    """The callers (``top-src``), callees (``top-dst``), original callees (``top-odst``) or
    source addresses (``top-srcip``) with the most calls (INVITE rows) in the range."""
    if report not in REPORTS:
        raise BadInput(f"unknown report {report!r}", hint=f"one of {', '.join(REPORTS)}")
    if limit < 1:
        raise BadInput(f"--limit must be at least 1, not {limit}")
    column = REPORTS[report]
    _need(db, "acc", [column])
    where, params = _where_time("acc", r)
    rows = _sql(db, f"SELECT {column}, COUNT(*) FROM acc WHERE method = 'INVITE' AND {where} "
                    f"GROUP BY {column} ORDER BY COUNT(*) DESC, {column} LIMIT {int(limit)}",
                params)  # fmt: skip
    return [{column: value, "calls": int(count)} for value, count in rows]


def method_stats(db: peewee.Database, r: Range) -> dict[str, int]:
    """kamcli's method statistics: acc rows per method, INVITEs per outcome."""
    where, params = _where_time("acc", r)
    rows = _sql(db, f"SELECT method, sip_code, COUNT(*) FROM acc WHERE {where} "
                    "GROUP BY method, sip_code", params)  # fmt: skip
    out = dict.fromkeys(("invite", "bye", "message", "other", "invite200", "invite404",
                         "invite487", "inviteXYZ"), 0)  # fmt: skip
    for method, code, count in rows:
        n, method, code = int(count), str(method).upper(), str(code)
        key = method.lower() if method in ("INVITE", "BYE", "MESSAGE") else "other"
        out[key] += n
        if method == "INVITE":
            out[f"invite{code}" if code in ("200", "404", "487") else "inviteXYZ"] += n
    return out


def _rows(db: peewee.Database, table: str, r: Range, limit: int, order: str) -> list[dict]:
    have = _columns(db, table)
    cols = ["id", "time", "method", "sip_code", "sip_reason", "callid", "from_tag", "to_tag"]
    cols += [c for c in ("src_user", "src_ip", "dst_user", "dst_ouser") if c in have]
    where, params = _where_time(table, r)
    field = models.MODELS[table].time
    result = []
    for values in _sql(db, f"SELECT {', '.join(cols)} FROM {table} WHERE {where} "
                           f"ORDER BY {order} LIMIT {int(limit)}", params):  # fmt: skip
        row = dict(zip(cols, values, strict=True))
        row["time"] = field.python_value(row["time"])
        result.append(row)
    return result


def missed(db: peewee.Database, r: Range, limit: int = 100) -> list[dict[str, Any]]:
    """Missed calls (``missed_calls``: busy, cancelled, unanswered) in the range, oldest
    first."""
    if limit < 1:
        raise BadInput(f"--limit must be at least 1, not {limit}")
    return _rows(db, "missed_calls", r, limit, "time, id")


def struct_update(db: peewee.Database) -> list[str]:
    """Add the extra columns of :data:`ACC_EXTRA` (acc, missed_calls) and
    :data:`CDR_EXTRA` (acc_cdrs) that are missing; returns ``table.column`` added."""
    added = []
    with db.atomic():
        for table, extra in (("acc", ACC_EXTRA), ("missed_calls", ACC_EXTRA),
                             ("acc_cdrs", CDR_EXTRA)):  # fmt: skip
            have = _columns(db, table)
            for column, ddl in extra.items():
                if column not in have:
                    db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")
                    added.append(f"{table}.{column}")
    return added


def generate_cdrs(db: peewee.Database, r: Range) -> list[dict[str, Any]]:
    """Make the ``acc_cdrs`` rows of the calls answered in the range that ended (their
    BYE may come after the range) and have none yet; returns the rows made."""
    _need(db, "acc_cdrs", list(CDR_EXTRA))
    have = _columns(db, "acc")
    users = [c if c in have else "''" for c in ("src_user", "dst_user")]
    where, params = _where_time("acc", r)
    invites = _sql(db, f"SELECT callid, from_tag, to_tag, time, {', '.join(users)} FROM acc "
                       f"WHERE method = 'INVITE' AND sip_code LIKE {{p}} AND {where} "
                       "ORDER BY time, id", ["2%", *params])  # fmt: skip
    done = {row[0] for row in _sql(db, "SELECT DISTINCT callid FROM acc_cdrs", [])}
    acc_time = models.MODELS["acc"].time
    cdr_time = models.MODELS["acc_cdrs"].start_time
    made: list[dict[str, Any]] = []
    with db.atomic():
        for callid, ftag, ttag, started, src, dst in invites:
            if callid in done:
                continue
            byes = _sql(db, "SELECT time FROM acc WHERE method = 'BYE' AND callid = {p} AND "
                            "((from_tag = {p} AND to_tag = {p}) OR (from_tag = {p} AND "
                            "to_tag = {p})) ORDER BY time, id",
                        [callid, ftag, ttag, ttag, ftag])  # fmt: skip
            if not byes:
                continue  # still going, or its BYE was not accounted
            start, end = acc_time.python_value(started), acc_time.python_value(byes[0][0])
            row = {"start_time": start, "end_time": end,
                   "duration": float((end - start).total_seconds()), "callid": callid,
                   "from_tag": ftag, "to_tag": ttag, "src_user": src, "dst_user": dst}  # fmt: skip
            cols = list(row)
            values = [cdr_time.db_value(v) if k.endswith("_time") else v for k, v in row.items()]
            db.execute_sql(f"INSERT INTO acc_cdrs ({', '.join(cols)}) VALUES "
                           f"({', '.join([db.param] * len(cols))})", values)  # fmt: skip
            done.add(callid)
            made.append(row)
    return made


def list_cdrs(db: peewee.Database, r: Range, limit: int = 100) -> list[dict[str, Any]]:
    """``acc_cdrs`` rows that started in the range, oldest first (extra columns if any)."""
    if limit < 1:
        raise BadInput(f"--limit must be at least 1, not {limit}")
    have = _columns(db, "acc_cdrs")
    cols = ["id", "start_time", "end_time", "duration"] + [c for c in CDR_EXTRA if c in have]
    field = models.MODELS["acc_cdrs"].start_time
    lo, hi = field.db_value(r.since), field.db_value(r.until)
    rows = _sql(db, f"SELECT {', '.join(cols)} FROM acc_cdrs WHERE start_time >= {{p}} AND "
                    f"start_time < {{p}} ORDER BY start_time, id LIMIT {int(limit)}",
                [lo, hi])  # fmt: skip
    out = []
    for values in rows:
        row = dict(zip(cols, values, strict=True))
        for k in ("start_time", "end_time"):
            row[k] = field.python_value(row[k])
        row["duration"] = float(row["duration"])
        out.append(row)
    return out

