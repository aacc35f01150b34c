"""Peewee fields that store values the way Kamailio reads them on each engine.

Datetimes are the one column kind whose storage differs between Kamailio's drivers:

* SQLite (db_sqlite): a REAL Julian day number. db_sqlite writes
  ``(t - 0.5) / 86400 + 2440587.5`` and reads ``(time_t)(86400 * (jd - 2440587.5) + 0.5)``,
  truncating, so about half of its own values come back one second early. kamtool
  writes ``t / 86400 + 2440587.5`` (what SQLite's ``julianday()`` gives), which
  db_sqlite's reader turns into exactly ``t``, and reads both forms back exactly.
  Text such as the schema defaults (``'2000-01-01 00:00:01'``) or kamctl's ``date``
  output is misread by Kamailio, so kamtool never writes text there, but reads it.
* MySQL/MariaDB: ``DATETIME`` in the host's local time.
* PostgreSQL: ``TIMESTAMP WITHOUT TIME ZONE`` in local time.

In Python a datetime value is a naive local ``datetime`` (like ``datetime.now()``);
aware datetimes are converted to local time, ints/floats are taken as Unix times.
Values are whole seconds, as Kamailio's ``time_t``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from kamtool.db.orm import peewee

JULIAN_UNIX_EPOCH = 2440587.5  # Julian day number of 1970-01-01T00:00:00Z
_TEXT_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%a %b %d %H:%M:%S %Z %Y",  # `date` output, what kamctl writes into domain.last_modified
    "%a %d %b %Y %H:%M:%S %Z",
)


def engine_of(database: Any) -> str:
    """``sqlite``, ``mysql`` or ``postgres`` for a peewee database (or a bound proxy)."""
    db = getattr(database, "obj", None) or database
    if isinstance(db, peewee.SqliteDatabase):
        return "sqlite"
    if isinstance(db, peewee.MySQLDatabase):
        return "mysql"
    if isinstance(db, peewee.PostgresqlDatabase):
        return "postgres"
    raise TypeError(f"unsupported database {type(db).__name__}")


def unix_to_julian(ts: int) -> float:
    """A Unix time as a Julian day that db_sqlite reads back as exactly ``ts``."""
    return float(ts) / 86400.0 + JULIAN_UNIX_EPOCH


def julian_to_unix(jd: float) -> int:
    """A stored Julian day back to a whole Unix time.

    Both kamtool's values (``x`` = the second) and db_sqlite's own (``x`` = the second
    minus 0.5) round to the second that was meant when a quarter second is added.
    """
    return math.floor(86400.0 * (float(jd) - JULIAN_UNIX_EPOCH) + 0.75)


def parse_datetime_text(text: str) -> datetime | None:
    """A datetime from the text forms found in Kamailio databases, or None."""
    text = text.strip()
    for fmt in _TEXT_FORMATS:
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if "%Z" in fmt and any(z in text.split() for z in ("UTC", "GMT")):
            return to_local_naive(dt.replace(tzinfo=UTC))  # `date` ran in UTC
        return dt.replace(tzinfo=None)
    try:
        return to_local_naive(datetime.fromisoformat(text))
    except ValueError:
        return None


def to_local_naive(dt: datetime) -> datetime:
    """``dt`` as a naive local datetime (aware values are converted)."""
    if dt.tzinfo is not None:
        dt = dt.astimezone().replace(tzinfo=None)
    return dt


def to_unix(dt: datetime) -> int:
    """Whole seconds since the epoch of a (naive = local) datetime."""
    return math.floor(dt.timestamp())


def from_unix(ts: float) -> datetime:
    return datetime.fromtimestamp(ts)


def coerce_datetime(value: Any) -> Any:
    """Normalise a Python value for a datetime column (text it cannot parse stays text)."""
    if value is None or isinstance(value, datetime):
        return None if value is None else to_local_naive(value).replace(microsecond=0)
    if isinstance(value, bool):
        raise TypeError("a boolean is not a datetime")
    if isinstance(value, (int, float)):
        return from_unix(math.floor(value))
    if isinstance(value, str):
        parsed = parse_datetime_text(value)
        return parsed if parsed is not None else value
    raise TypeError(f"cannot store {type(value).__name__} in a datetime column")


class KamailioDateTimeField(peewee.Field):
    """A DATETIME column: Julian days on SQLite, local DATETIME/TIMESTAMP elsewhere."""

    field_type = "DATETIME"

    def db_value(self, value: Any) -> Any:
        value = coerce_datetime(value)
        if not isinstance(value, datetime):
            return value  # None, or text that is not a date (stored unchanged)
        if engine_of(self.model._meta.database) == "sqlite":
            return unix_to_julian(to_unix(value))
        return value

    def python_value(self, value: Any) -> Any:
        if value is None or isinstance(value, datetime):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # NUMERIC affinity stores whole Julian days as INTEGER; big numbers are Unix times.
            if abs(value) < 1e7:
                return from_unix(julian_to_unix(value))
            return from_unix(value)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            parsed = parse_datetime_text(value)
            return parsed if parsed is not None else value
        return value


class BytesField(peewee.BlobField):
    """BLOB/BYTEA that always reads back as ``bytes`` (psycopg2 gives memoryview)."""

    def python_value(self, value: Any) -> Any:
        if isinstance(value, (memoryview, bytearray)):
            return bytes(value)
        return value
