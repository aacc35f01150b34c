"""The database worker's outage rules, with jobs that fail as a dead server makes them fail."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kamtool.db.orm import peewee
from kamtool.proxy.dbworker import DatabaseDown, DbWorker


class Flaky:
    """A job failing with a connection error ``failures`` times, then answering 42."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise peewee.OperationalError(2013, "Lost connection to server during query")
        return 42


@pytest.fixture
def worker(tmp_path):
    loop = asyncio.new_event_loop()
    db = peewee.SqliteDatabase(str(tmp_path / "w.sqlite"))
    w = DbWorker(db, loop, retry=3600.0)
    yield w
    loop.close()


def test_a_stale_connection_is_retried_once_without_an_outage(worker, caplog):
    job = Flaky(1)
    assert worker.execute(job) == 42 and job.calls == 2
    assert not worker.down and worker.outages == 0
    assert "unreachable" not in caplog.text


def test_an_outage_is_logged_once_and_fails_fast_until_the_retry(worker, caplog):
    caplog.set_level(logging.INFO)
    job = Flaky(2)
    with pytest.raises(peewee.OperationalError):
        worker.execute(job)
    assert worker.down and worker.outages == 1
    for _ in range(3):  # within the retry interval: not tried at all
        with pytest.raises(DatabaseDown):
            worker.execute(job)
    assert job.calls == 2
    assert caplog.text.count("database unreachable") == 1
    # forced (the last writes at shutdown): tried, and the database answers again
    assert worker.execute(job, force=True) == 42
    assert not worker.down
    assert caplog.text.count("database is back") == 1


def test_other_errors_go_back_to_the_caller_and_are_no_outage(worker):
    def bad() -> None:
        raise peewee.IntegrityError("duplicate")

    with pytest.raises(peewee.IntegrityError):
        worker.execute(bad)
    assert not worker.down


def test_jobs_run_in_order_on_the_thread_and_answer_on_the_loop(worker):
    seen: list[int] = []

    async def main() -> list[int]:
        worker.start()
        for i in range(50):
            worker.submit(lambda i=i: seen.append(i))
        return await worker.run(lambda: list(seen))

    assert worker.loop.run_until_complete(main()) == list(range(50))
    worker.close()
