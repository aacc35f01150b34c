"""Accounting: Kamailio's acc module writing CDRs to the ``acc`` and ``missed_calls`` tables.

The reference cfg sets per-transaction flags (``setflag``) and acc acts on them when the
transaction's final reply goes out (``db_flag``, ``db_missed_flag``,
``failed_transaction_flag``; the numbers are the cfg's ``FLT_*`` defines):

* ``FLT_ACC`` on a transaction answered 2xx → one ``acc`` row;
* ``FLT_ACC`` + ``FLT_ACCFAILED`` on a transaction answered >= 300 → one ``acc`` row
  (the cfg sets both on in-dialog BYEs, so a refused BYE is a CDR too);
* ``FLT_ACCMISSED`` on a transaction answered >= 300 → one ``missed_calls`` row (the cfg
  sets it on INVITEs to local users: busy, cancelled, unanswered calls).

A row is ``method``, ``from_tag`` (the request's), ``to_tag`` (the final reply's To tag:
the callee's, or the proxy's own for a locally made 408/487), ``callid``, ``sip_code``,
``sip_reason`` (the reply's reason phrase) and ``time`` (when the final reply was sent).
Checked against a real Kamailio 5.6 with the reference cfg by
``tests/proxy/test_acc.py``. The cfg's other acc parameters are the only behaviour built:
``early_media 0`` (no row for a 183), ``report_ack 0`` (ACKs are never accounted: the
route does not flag them), ``report_cancels 0`` (a CANCEL is answered statelessly and has
no transaction to account), ``detect_direction 0`` (a BYE from the callee keeps its own
From/To tags).

Writing never happens on the event loop: rows go to a queue and one writer thread inserts
whatever has accumulated in a single transaction (a burst of calls costs one commit).
When the database is unreachable the rows stay queued (up to ``max_backlog``), the thread
logs once and retries every ``retry`` seconds; calls are never affected. A row the
database refuses for what it holds is logged and dropped alone, never retried: one bad row
must not hold back the CDRs after it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from kamtool.proxy.dbworker import connection_errors, describe
from kamtool.sip.errors import ParseError

log = logging.getLogger(__name__)

# the reference cfg's flag numbers (#!define FLT_ACC 1 ...); setflag(n) sets bit 1 << n
FLT_ACC = 1
FLT_ACCMISSED = 2
FLT_ACCFAILED = 3


def flag(n: int) -> int:
    """The bit of flag number ``n`` (Kamailio's ``setflag(n)``)."""
    return 1 << n


ACC = flag(FLT_ACC)
ACC_MISSED = flag(FLT_ACCMISSED)
ACC_FAILED = flag(FLT_ACCFAILED)


@dataclass(frozen=True, slots=True)
class Cdr:
    """One row for ``acc`` or ``missed_calls`` (``time``: Unix seconds)."""

    table: str
    method: str
    from_tag: str
    to_tag: str
    callid: str
    sip_code: str
    sip_reason: str
    time: int

    def describe(self) -> str:
        """One log line, in the form of acc's log_flag output."""
        what = "call missed" if self.table == "missed_calls" else "transaction answered"
        return (
            f"ACC: {what}: timestamp={self.time};method={self.method};from_tag={self.from_tag};"
            f"to_tag={self.to_tag};call_id={self.callid};code={self.sip_code};"
            f"reason={self.sip_reason}"
        )

    def row(self) -> dict[str, Any]:
        """The column values (without ``table``)."""
        values = asdict(self)
        del values["table"]
        return values


def cdrs_for(flags: int, request: Any, response: Any, now: float) -> list[Cdr]:
    """What acc writes when the final ``response`` to ``request`` goes out (see module
    docstring); ``flags`` are the transaction's flag bits."""
    status = response.status
    if status < 200:  # early_media 0: provisional replies are never accounted
        return []
    tables = []
    if flags & ACC and (status < 300 or flags & ACC_FAILED):
        tables.append("acc")
    if flags & ACC_MISSED and status >= 300:
        tables.append("missed_calls")
    if not tables:
        return []
    values = dict(
        method=_column(request.method, 16),
        from_tag=_column(_tag(request, "from_tag"), 128),
        to_tag=_column(_tag(response, "to_tag") or _tag(request, "to_tag"), 128),
        callid=_column(request.call_id, 255),
        sip_code=str(status),
        sip_reason=_column(response.reason, 128),
        time=int(now),
    )
    return [Cdr(table, **values) for table in tables]


def _tag(msg: Any, which: str) -> str | None:
    """``msg.from_tag``/``msg.to_tag``, None when the header does not parse: a relayed
    reply may carry a broken To (Kamailio's acc then takes the request's To)."""
    try:
        return getattr(msg, which)
    except ParseError:
        return None


def _column(value: str | None, size: int) -> str:
    """``value`` as the column takes it: bytes that are not UTF-8 (kept by the parser as
    surrogates) written as ``\\xff``, and cut to the column's size. Anybody can put such
    bytes or a 300-character Call-ID in a request; a row the database refuses would be
    one CDR lost (as in Kamailio), a cut or escaped one is still billed."""
    text = value or ""
    if not text.isascii():
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text[:size]


class Accounting:
    """The acc module of the proxy: ``on_reply(flags, request, response)`` on the loop,
    rows written by a writer thread (see module docstring).

    ``start()`` starts the thread (rows queued before are written then); ``close(timeout)``
    writes what is queued and stops it. ``write(cdrs)`` is the synchronous insert.
    """

    def __init__(
        self,
        database: Any,
        *,
        clock: Callable[[], float] = time.time,
        max_backlog: int = 100_000,
        retry: float = 2.0,
        batch: int = 500,
    ) -> None:
        self.database = database
        self.clock = clock
        self.max_backlog = max_backlog
        self.retry = retry
        self.batch = batch
        self.written = 0
        self.dropped = 0
        self._queue: queue.SimpleQueue[Cdr | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._give_up_at = float("inf")  # set by close(): stop retrying then
        self._models: dict[str, Any] = {}

    # ------------------------------------------------------------------ on the loop

    def on_reply(self, flags: int, request: Any, response: Any) -> None:
        """A transaction with ``flags`` sends its final ``response``: queue its CDRs."""
        for cdr in cdrs_for(flags, request, response, self.clock()):
            log.info("%s", cdr.describe())  # acc's log_flag: the CDR in the log as well
            self._queue.put(cdr)

    # ------------------------------------------------------------------ writer thread

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kamtool-acc", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (trying for up to ``timeout`` s) and stop the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._give_up_at = time.monotonic() + timeout
        self._queue.put(None)
        thread.join(timeout + self.retry + 1)
        if thread.is_alive():
            log.error("acc: the database did not take the last CDRs in %.0f s", timeout)

    def _collect(self, backlog: deque[Cdr], timeout: float | None) -> bool:
        """Move what the loop queued into ``backlog`` (waiting up to ``timeout`` for the
        first item); True when close() asked to stop."""
        stop = False
        try:
            item = self._queue.get(timeout=timeout)
            while True:
                if item is None:
                    stop = True
                else:
                    backlog.append(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        excess = len(backlog) - self.max_backlog
        if excess > 0:
            log.error("acc: the database is away and the backlog full: %d CDRs only logged", excess)
            self._give_up([backlog.popleft() for _ in range(excess)])
        return stop

    def _run(self) -> None:
        backlog: deque[Cdr] = deque()
        stopping = failing = False
        next_try = 0.0  # while the database is away: try again every `retry` seconds
        while True:
            wait = max(0.0, next_try - time.monotonic()) if backlog else None
            stopping |= self._collect(backlog, wait)
            if backlog and not stopping and time.monotonic() < next_try:
                continue  # a new CDR came in while waiting to retry: keep it, wait on
            while backlog:
                chunk = [backlog[i] for i in range(min(self.batch, len(backlog)))]
                try:
                    try:
                        self.write(chunk)
                    except connection_errors():
                        raise
                    except Exception:  # the rows, not the database: one at a time
                        self._write_each(chunk, backlog)
                        continue
                except Exception as exc:
                    if not failing:
                        log.error(
                            "acc: cannot write CDRs (%s); keeping %d, retrying every %g s",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                            len(backlog), self.retry,
                        )  # fmt: skip
                    failing = True
                    next_try = time.monotonic() + self.retry
                    self._close_connection()  # the next write reconnects
                    break
                for _ in chunk:
                    backlog.popleft()
                if failing:
                    log.warning("acc: the database is back, CDRs are written again")
                    failing = False
            if stopping and (not backlog or time.monotonic() >= self._give_up_at):
                if backlog:
                    log.error("acc: %d CDRs not written at shutdown", len(backlog))
                    self._give_up(list(backlog))
                self._close_connection()
                return

    def _write_each(self, chunk: list[Cdr], backlog: deque[Cdr]) -> None:
        """``chunk`` (the head of ``backlog``) a CDR at a time: a row the database refuses
        is logged and dropped, so that it cannot hold back every CDR after it; a lost
        connection is raised (what is written is off the backlog)."""
        for cdr in chunk:
            try:
                self.write([cdr])
            except connection_errors():
                raise
            except Exception as exc:
                log.error("acc: the database refused a CDR (%s)", describe(exc))
                self._give_up([cdr])
            backlog.popleft()

    def _give_up(self, cdrs: list[Cdr]) -> None:
        """CDRs the database will not get: each in the log at error level, so that an
        operator can still bill them."""
        self.dropped += len(cdrs)
        for cdr in cdrs:
            log.error("acc: not written to %s: %s", cdr.table, cdr.describe())

    def write(self, cdrs: list[Cdr]) -> None:
        """Insert ``cdrs`` in one transaction (raises on a database error)."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        for cdr in cdrs:
            by_table.setdefault(cdr.table, []).append(cdr.row())
        with self.database.atomic():
            for table, rows in by_table.items():
                self._model(table).insert_many(rows).execute()
        self.written += len(cdrs)

    def _model(self, table: str) -> Any:
        model = self._models.get(table)
        if model is None:
            from kamtool.proxy.usrloc import bound_model

            model = self._models[table] = bound_model(table, self.database)
        return model

    def _close_connection(self) -> None:
        try:
            if not self.database.is_closed():
                self.database.close()  # peewee connections are per thread: only ours
        except Exception:
            log.debug("acc: closing the writer's connection failed", exc_info=True)
