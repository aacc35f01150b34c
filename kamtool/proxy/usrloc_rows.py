"""usrloc's ``location`` rows: a :class:`~kamtool.proxy.binding.Binding` to column values
and back, in the form Kamailio writes them (``q = -1`` when no q was given, ``methods``
NULL for "all", permanent contacts with expires 2030-05-28 21:32:15), and the table's SQL
(:class:`LocationTable`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from kamtool.proxy.binding import CS_SYNC, Batch, Binding

# Kamailio stores permanent contacts with expires 2030-05-28 21:32:15
PERMANENT = datetime(2030, 5, 28, 21, 32, 15)
MAX_DATETIME = 2030  # an expires in this year or later reads back as permanent


def ts_to_dt(ts: float) -> datetime:
    """Unix time → naive local datetime (what kamtool.db's DATETIME field stores)."""
    return datetime.fromtimestamp(int(ts))


def dt_to_ts(value: Any) -> float:
    """A DATETIME column's value (or a number, or NULL) → unix time (0 for NULL)."""
    if value is None:
        return 0.0
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return 0.0


def row_values(b: Binding, use_domain: bool) -> dict[str, Any]:
    """The ``location`` columns of ``b``."""
    username, _, domain = b.aor.partition("@")
    return {
        "ruid": b.ruid,
        "username": username if use_domain else b.aor,
        "domain": (domain or None) if use_domain else None,
        "contact": b.contact,
        "received": b.received,
        "path": b.path,
        "expires": ts_to_dt(b.expires) if b.expires else PERMANENT,
        "q": b.q,
        "callid": b.callid,
        "cseq": b.cseq,
        "last_modified": ts_to_dt(b.last_modified),
        "flags": b.flags,
        "cflags": b.cflags,
        "user_agent": b.user_agent,
        "socket": b.socket,
        "methods": b.methods,
        "instance": b.instance,
        "reg_id": b.reg_id,
        "server_id": b.server_id,
        "connection_id": b.connection_id,
        "keepalive": b.keepalive,
        "partition": 0,
    }


def binding_from_row(row: Any, use_domain: bool) -> Binding:
    """A binding (in sync with the database) from a ``location`` row."""
    aor = row.username
    if use_domain and row.domain:
        aor = f"{row.username}@{row.domain}"
    expires = dt_to_ts(row.expires)
    if expires and datetime.fromtimestamp(expires).year >= MAX_DATETIME:
        expires = 0.0
    return Binding(
        aor=aor,
        contact=row.contact,
        expires=expires,
        q=float(row.q) if row.q is not None else -1.0,
        callid=row.callid or "",
        cseq=int(row.cseq or 0),
        user_agent=row.user_agent or "",
        received=row.received or None,
        path=row.path or None,
        socket=row.socket or None,
        methods=row.methods,
        instance=row.instance or None,
        reg_id=int(row.reg_id or 0),
        flags=int(row.flags or 0),
        cflags=int(row.cflags or 0),
        ruid=row.ruid or "",
        server_id=int(row.server_id or 0),
        connection_id=int(row.connection_id if row.connection_id is not None else -1),
        keepalive=int(row.keepalive or 0),
        last_modified=dt_to_ts(row.last_modified),
        domain=row.domain,
        state=CS_SYNC,
    )


def bound_model(table: str, database: Any) -> Any:
    """A Peewee model of ``table`` bound to ``database`` (the proxy's own connection)."""
    from kamtool.db import schema
    from kamtool.db.models import make_model

    return make_model(schema.tables()[table], database)


class LocationTable:
    """The ``location`` table's SQL for :class:`~kamtool.proxy.usrloc.LocationStore`
    (a base class: it uses the store's ``database``, ``use_domain`` and ``_model``).
    Synchronous; in the proxy it runs on the database worker thread."""

    database: Any
    use_domain: bool
    _model: Any

    @property
    def model(self) -> Any:
        """A ``location`` model bound to our own database (not the shared proxy)."""
        if self._model is None:
            self._model = bound_model("location", self.database)
        return self._model

    def _db(self) -> Any:
        return self.database

    def _row_values(self, b: Binding) -> dict[str, Any]:
        return row_values(b, self.use_domain)

    def _from_row(self, row: Any) -> Binding:
        return binding_from_row(row, self.use_domain)

    def _db_insert(self, b: Binding) -> None:
        self.model.insert(**self._row_values(b)).execute()

    def _db_update(self, b: Binding) -> None:
        values = self._row_values(b)
        n = self.model.update(**values).where(self.model.ruid == b.ruid).execute()
        if not n:
            self.model.insert(**values).execute()

    def _db_delete(self, bindings: Iterable[Binding | str]) -> None:
        ruids = [b if isinstance(b, str) else b.ruid for b in bindings]
        if not ruids:
            return
        self.model.delete().where(self.model.ruid.in_(ruids)).execute()

    def _db_select(self, aor: str | None = None) -> list[Binding]:
        m = self.model
        query = m.select()
        if aor is not None:
            if self.use_domain and "@" in aor:
                user, _, dom = aor.partition("@")
                query = query.where((m.username == user) & (m.domain == dom))
            else:
                query = query.where(m.username == aor)
        return [self._from_row(r) for r in query]

    def _db_expire(self, now: float) -> None:
        m = self.model
        m.delete().where((m.expires < ts_to_dt(now)) & (m.expires > datetime(1971, 1, 1))).execute()

    def write_batch(self, batch: Batch) -> int:
        """Write ``batch`` in one transaction (any thread: it only touches the database).
        Rows are written as update-or-insert, so a batch written twice does no harm."""
        with self.database.atomic():
            if batch.deletes:
                self._db_delete(batch.deletes)
            for b in batch.upserts:
                self._db_update(b)
            for op, arg in batch.ops:
                if op == "save":
                    self._db_update(arg)
                elif op == "delete":
                    self._db_delete(arg)
                else:
                    self._db_expire(arg)
        return len(batch)
