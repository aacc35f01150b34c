"""topos records in the database (``[proxy] topos_storage = "db"``): Kamailio's
``topos_d`` table, one row per dialog, so that in-dialog requests still find their way
after a restart (or through another instance on the same database).

Rows are written and deleted on the database worker, never waited for; a row is read
only when an in-dialog request names a dialog not in memory, and that request waits for
the answer (off the event loop) before the core sees it. The columns are Kamailio's; the
values are kamtool's (``a_rr``/``b_rr``/``s_rr`` the Record-Route entries comma-joined,
sockets as ``proto:host:port``), so Kamailio's topos does not read these rows, nor
kamtool Kamailio's.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from kamtool.sip.headers import parse_name_addr_list
from kamtool.sip.topos import DIALOG_EXPIRE, Socket, TpsDialog

__all__ = ["ToposStore"]

log = logging.getLogger(__name__)

CONFIRMED = 1  # iflags bit: the initial INVITE was answered 2xx


def _sock(sock: Socket | None) -> str:
    return "" if sock is None else f"{sock[2]}:{sock[0]}:{sock[1]}"


def _unsock(text: str) -> Socket | None:
    proto, _, rest = text.partition(":")
    host, _, port = rest.rpartition(":")
    return (host, int(port), proto) if host and port.isdigit() else None


def _rr(entries: list[str]) -> str:
    return ", ".join(entries)


def _unrr(text: str | None) -> list[str]:
    return [str(a) for a in parse_name_addr_list(text, "Record-Route")] if text else []


def to_row(dlg: TpsDialog) -> dict[str, Any]:
    """A ``topos_d`` row of ``dlg``."""
    return {
        "rectime": datetime.datetime.now(), "s_method": "INVITE", "a_callid": dlg.call_id,
        "a_uuid": dlg.a_uuid, "b_uuid": dlg.b_uuid, "a_tag": dlg.a_tag, "b_tag": dlg.b_tag,
        "a_contact": dlg.a_contact, "b_contact": dlg.b_contact, "a_rr": _rr(dlg.a_rr),
        "b_rr": _rr(dlg.b_rr), "s_rr": _rr(dlg.s_rr),
        "iflags": CONFIRMED if dlg.confirmed else 0,
        "a_socket": _sock(dlg.a_sock), "b_socket": _sock(dlg.b_sock),
    }  # fmt: skip


def from_row(row: dict[str, Any], now: float) -> TpsDialog:
    """The :class:`TpsDialog` of a ``topos_d`` row (expiring ``dialog_expire`` from now)."""
    return TpsDialog(
        call_id=row["a_callid"], a_tag=row["a_tag"], a_uuid=row["a_uuid"],
        b_uuid=row["b_uuid"], b_tag=row["b_tag"], a_contact=row["a_contact"],
        b_contact=row["b_contact"], s_rr=_unrr(row["s_rr"]), a_rr=_unrr(row["a_rr"]),
        b_rr=_unrr(row["b_rr"]), a_sock=_unsock(row["a_socket"]),
        b_sock=_unsock(row["b_socket"]), expires=now + DIALOG_EXPIRE,
        confirmed=bool(int(row["iflags"] or 0) & CONFIRMED),
    )  # fmt: skip


class ToposStore:
    """``topos_d`` through the proxy's :class:`~kamtool.proxy.dbworker.DbWorker`."""

    def __init__(self, worker: Any, database: Any) -> None:
        from kamtool.proxy.usrloc import bound_model

        self.worker = worker
        self.database = database
        self.model = bound_model("topos_d", database)

    def _done(self, what: str) -> Callable[[Any, BaseException | None], None]:
        def done(_: Any, error: BaseException | None) -> None:
            if error is not None:  # the dialog still works from memory
                log.warning("topos: %s not stored: %s", what, error)

        return done

    def save(self, dlg: TpsDialog) -> None:
        """Write ``dlg``'s row (replacing an older one)."""
        self.worker.submit(partial(self._write, to_row(dlg)), self._done("dialog"))

    def _write(self, row: dict[str, Any]) -> None:
        m = self.model
        with self.database.atomic():
            m.delete().where(m.a_uuid == row["a_uuid"]).execute()
            m.insert(**row).execute()

    def drop(self, dlg: TpsDialog) -> None:
        """Delete ``dlg``'s row."""
        m = self.model
        self.worker.submit(lambda: m.delete().where(m.a_uuid == dlg.a_uuid).execute(),
                           self._done("dialog end"))  # fmt: skip

    def clean(self, older_than: datetime.datetime) -> None:
        """Delete rows not written since ``older_than`` (Kamailio's dialog_expire)."""
        m = self.model
        self.worker.submit(lambda: m.delete().where(m.rectime < older_than).execute(),
                           self._done("clean-up"))  # fmt: skip

    def fetch(self, uuid: str, now: float, found: Callable[[TpsDialog | None], None]) -> None:
        """Look for the dialog with key ``uuid``; ``found(dialog or None)`` on the loop."""
        m = self.model

        def job() -> dict[str, Any] | None:
            q = m.select().where((m.a_uuid == uuid) | (m.b_uuid == uuid)).limit(1).dicts()
            return next(iter(q), None)

        def done(row: dict[str, Any] | None, error: BaseException | None) -> None:
            if error is not None:
                log.warning("topos: dialog %s not read: %s", uuid, error)
            found(from_row(row, now) if row else None)

        self.worker.submit(job, done)
