"""The proxy's database work, off the event loop: one worker thread, jobs in order.

Why one thread and not ``asyncio.to_thread`` (a pool): the jobs are short single-row
statements, the machine's loop is the bottleneck, and one thread gives the guarantees
the proxy needs for free. Jobs run in submission order, so the usrloc writes of one AoR
(and a write followed by a db_mode 3 read) can never overtake each other; the thread has
one connection of its own (peewee keeps connections per thread), which it reuses.

An outage is handled here, once for every user:

* a connection error (``OperationalError``/``InterfaceError``) closes the connection and
  the job is tried once more on a new one: a database that was restarted costs nothing;
* if that fails too, the database is *down*: one log line, then every job fails at once
  with :class:`DatabaseDown` (no connect timeout per SIP request) until ``retry`` seconds
  have passed, when the next job tries to reconnect;
* the first job that succeeds again logs that the database is back and for how long it
  was away.

Errors that are not about the connection (a constraint, a bad statement) go back to the
job's caller as they are, after a rollback, and do not count as an outage.

On the loop: :meth:`DbWorker.submit` takes ``job`` (a callable run on the thread) and
``done(result, error)`` (called back on the loop); :meth:`DbWorker.run` is the awaitable
form. ``down`` tells the loop, without a round trip, that an outage is known.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Done = Callable[[Any, BaseException | None], None]


class DatabaseDown(Exception):
    """The database is known to be unreachable; the job was not tried."""


def connection_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the connection is gone", whatever the driver."""
    from kamtool.db.orm import peewee

    return (peewee.OperationalError, peewee.InterfaceError, OSError)


def describe(exc: BaseException) -> str:
    """The first line of an error, never anything else (drivers do not echo passwords)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def log_db_error(what: str, error: BaseException) -> None:
    """A failed database job of the routing: an outage is logged once, by the worker
    (debug here); anything else is worth a line of its own."""
    if isinstance(error, (DatabaseDown, *connection_errors())):
        log.debug("%s: database unavailable (%s)", what, describe(error))
    else:
        log.error("%s: database error: %s", what, describe(error))


class DbWorker:
    """Runs database jobs on one thread (see module docstring)."""

    def __init__(
        self,
        database: Any,
        loop: asyncio.AbstractEventLoop,
        *,
        retry: float = 2.0,
        name: str = "kamtool-db",
    ) -> None:
        self.database = database
        self.loop = loop
        self.retry = retry
        self.name = name
        self.outages = 0  # how many times the database went away (a statistic)
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Done | None, bool] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._down_since: float | None = None  # monotonic time of the outage's start
        self._next_try = 0.0
        self._errors = connection_errors()

    # ------------------------------------------------------------------ on the loop

    @property
    def down(self) -> bool:
        """True while an outage is known (set and cleared by the thread)."""
        return self._down_since is not None

    def start(self) -> None:
        """Start the thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def submit(
        self, job: Callable[[], Any], done: Done | None = None, *, force: bool = False
    ) -> None:
        """Run ``job()`` on the thread; then ``done(result, None)`` or ``done(None, error)``
        on the loop. Without ``done`` an error is only logged. ``force``: try even during
        a known outage (the last writes at shutdown)."""
        self._queue.put((job, done, force))

    async def run(self, job: Callable[[], Any], *, force: bool = False) -> Any:
        """``job()`` on the thread, awaited; raises what the job raised (or DatabaseDown)."""
        future = self.loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        self.submit(job, done, force=force)
        return await future

    def close(self, timeout: float = 5.0) -> None:
        """Finish the queued jobs (for up to ``timeout`` s) and stop the thread. Call it
        off the loop (``run_in_executor``) when jobs may still call back."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)
        if thread.is_alive():
            log.error("database worker: jobs still running after %.0f s", timeout)

    # ------------------------------------------------------------------ on the thread

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            job, done, force = item
            try:
                result, error = self.execute(job, force=force), None
            except BaseException as exc:  # handed to the caller, who decides
                result, error = None, exc
            if done is not None:
                try:
                    self.loop.call_soon_threadsafe(done, result, error)
                except RuntimeError:  # the loop is closed (shutdown): nobody to tell
                    pass
            elif error is not None and not isinstance(error, DatabaseDown):
                log.error("database job failed: %s", describe(error))
        self._close_connection()

    def execute(self, job: Callable[[], Any], *, force: bool = False) -> Any:
        """Run ``job`` on the calling thread with the outage rules of the module
        docstring (the worker thread calls it; tests may too)."""
        waiting = self._down_since is not None and time.monotonic() < self._next_try
        if waiting and not force:
            raise DatabaseDown("the database is unreachable")
        try:
            result = self._attempt(job)
        except self._errors:
            self._close_connection()
            if self._down_since is None:
                try:  # a stale connection (the server restarted): once more, anew
                    result = self._attempt(job)
                except self._errors as again:
                    self._went_down(again)
                    raise
            else:
                self._next_try = time.monotonic() + self.retry
                raise
        if self._down_since is not None:
            log.warning(
                "database is back after %.1f s; serving from it again",
                time.monotonic() - self._down_since,
            )
            self._down_since = None
        return result

    def _attempt(self, job: Callable[[], Any]) -> Any:
        try:
            return job()
        except self._errors:
            raise
        except Exception:
            self._rollback()  # PostgreSQL refuses everything after an error until then
            raise

    def _went_down(self, exc: BaseException) -> None:
        self.outages += 1
        self._down_since = time.monotonic()
        self._next_try = self._down_since + self.retry
        log.error(
            "database unreachable (%s): SIP requests that need it are answered 500, "
            "pending writes are kept; retrying every %g s",
            describe(exc),
            self.retry,
        )

    def _rollback(self) -> None:
        try:
            self.database.rollback()
        except Exception:
            log.debug("rollback after a failed job failed", exc_info=True)

    def _close_connection(self) -> None:
        try:
            if not self.database.is_closed():
                self.database.close()  # peewee connections are per thread: only ours
        except Exception:
            log.debug("closing the worker's connection failed", exc_info=True)
