"""DATETIME columns: stored the way Kamailio reads them on each engine, read back from
every form found in real Kamailio databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kamtool.db.connect import connected
from kamtool.db.fields import julian_to_unix, unix_to_julian
from tests.support.kamailio import REFERENCE
from tests.support.require import unavailable

REFERENCE_ROWS = REFERENCE / "db" / "sqlite-rows.json"


def _local(ts: int) -> datetime:
    return datetime.fromtimestamp(ts)


@pytest.fixture(scope="module")
def reference_rows():
    if not REFERENCE_ROWS.exists():
        unavailable(f"reference captures not found at {REFERENCE_ROWS}")
    return json.loads(REFERENCE_ROWS.read_text())


def _kamailio_reads(jd: float) -> int:
    """db_sqlite's sqlite_to_timet(): truncating conversion to time_t."""
    return int(86400.0 * (jd - 2440587.5) + 0.5)


def test_kamailio_reads_back_exactly_the_second_kamtool_wrote():
    start = 1795693043
    assert all(_kamailio_reads(unix_to_julian(t)) == t for t in range(start, start + 200_000))
    assert all(julian_to_unix(unix_to_julian(t)) == t for t in range(start, start + 200_000))


def test_kamailio_written_julian_days_read_back_exactly(reference_rows):
    """Values db_sqlite wrote: we read the exact second it meant."""
    loc = reference_rows["location"]["rows"][0]
    kind, jd = loc["last_modified"]
    assert kind == "real"
    ts = julian_to_unix(jd)
    assert datetime.fromtimestamp(ts, UTC) == datetime(2026, 11, 26, 11, 37, 23, tzinfo=UTC)
    assert julian_to_unix(loc["expires"][1]) - ts == 3600  # a 3600 s registration
    for table, col in (("location", "expires"), ("acc", "time"), ("missed_calls", "time")):
        for row in reference_rows[table]["rows"]:
            kind, value = row[col]
            assert kind == "real"
            t = julian_to_unix(value)
            assert value == (t - 0.5) / 86400 + 2440587.5  # db_sqlite's timet_to_sqlite(t)


def test_sqlite_stores_real_julian_days_and_reads_every_form(sqlite_url, reference_rows):
    from kamtool.db.models import Domain, Location

    ts = 1795693043  # 2026-11-26 11:37:23 UTC
    with connected(sqlite_url) as db:
        Location.create(ruid="kt-1", username="1001", contact="sip:1001@h", expires=_local(ts),
                        last_modified=_local(ts - 60))  # fmt: skip
        kind, raw = db.execute_sql(
            "SELECT typeof(expires), expires FROM location WHERE ruid = 'kt-1'"
        ).fetchone()
        assert kind == "real" and raw == unix_to_julian(ts)
        assert Location.get(Location.ruid == "kt-1").expires == _local(ts)

        # the schema's text default (what a plain INSERT leaves), a kamctl `date` text,
        # an INTEGER Unix time and Kamailio's own REAL value all read back as datetimes
        ref = reference_rows["location"]["rows"][0]["last_modified"][1]
        db.execute_sql(
            "INSERT INTO location (ruid, username, contact, last_modified) VALUES (?, ?, ?, ?)",
            ("text-default", "u", "sip:u@h", "2000-01-01 00:00:01"),
        )
        db.execute_sql(
            "INSERT INTO location (ruid, username, contact, expires, last_modified)"
            " VALUES (?, ?, ?, ?, ?)",
            ("unix-int", "u", "sip:u@h", ts, ref),
        )
        text_row = Location.get(Location.ruid == "text-default")
        assert text_row.expires == datetime(2030, 5, 28, 21, 32, 15)  # DB default, as text
        assert text_row.last_modified == datetime(2000, 1, 1, 0, 0, 1)
        unix_row = Location.get(Location.ruid == "unix-int")
        assert unix_row.expires == _local(ts)
        assert unix_row.last_modified == _local(ts)

        kamctl_text = reference_rows["domain"]["rows"][0]["last_modified"]
        assert kamctl_text == ["text", "Thu Nov 26 11:36:53 UTC 2026"]
        db.execute_sql(
            "INSERT INTO domain (domain, last_modified) VALUES (?, ?)", ("d", kamctl_text[1])
        )
        expected = datetime(2026, 11, 26, 11, 36, 53, tzinfo=UTC).astimezone().replace(tzinfo=None)
        assert Domain.get(Domain.domain == "d").last_modified == expected

        # a row written by kamtool without the column gets a Julian day, never text
        Domain.create(domain="e")
        kind = db.execute_sql("SELECT typeof(last_modified) FROM domain WHERE domain = 'e'")
        assert kind.fetchone()[0] == "real"


def test_datetime_round_trip_on_every_engine(db_url):
    from kamtool.db.models import Acc, Location

    local = datetime(2026, 11, 26, 12, 46, 15)
    aware = datetime(2026, 11, 26, 11, 46, 15, tzinfo=UTC)
    with connected(db_url) as db:
        if not db_url.startswith("sqlite"):
            from kamtool.db import ddl

            ddl.create_tables(db, ["standard"])
        Acc.create(method="INVITE", callid="c", sip_code="200", sip_reason="OK", time=local)
        Location.create(ruid="r", username="u", contact="sip:u@h", expires=aware,
                        last_modified=local.replace(microsecond=123456))  # fmt: skip
        assert Acc.get().time == local
        row = Location.get()
        assert row.expires == aware.astimezone().replace(tzinfo=None)  # local time, as Kamailio
        assert row.last_modified == local  # whole seconds, like time_t
        raw = db.execute_sql("SELECT time FROM acc").fetchone()[0]
        if db_url.startswith("sqlite"):
            assert raw == unix_to_julian(int(local.timestamp()))
        else:  # MySQL DATETIME / PostgreSQL TIMESTAMP hold the local wall-clock time
            assert raw == local
