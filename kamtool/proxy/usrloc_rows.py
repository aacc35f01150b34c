"""usrloc's ``location`` rows: a :class:`~kamtool.proxy.binding.Binding` to column values
and back, in the form Kamailio writes them (``q = -1`` when no q was given, ``methods``
NULL for "all", permanent contacts with expires 2030-05-28 21:32:15), and the table's SQL
(:class:`LocationTable`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from kamtool.db.orm import peewee
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


# a batch this big is written in bulk; a smaller one (db_mode 1 writes each REGISTER's
# contacts through) a contact at a time, an UPDATE each: one statement, not three
BULK_FROM = 4
BULK_ROWS = 500  # contacts per statement in a write-back batch (24 columns: 12,000 values)


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
        m = self.model
        n = m.update(**values).where(m.ruid == b.ruid).execute()
        # (MySQL counts the rows an UPDATE changed, not those it matched: 0 for a row
        # written again as it was, which is no reason to insert a second one)
        if not n and not m.select(m.id).where(m.ruid == b.ruid).exists():
            m.insert(**values).execute()

    def _db_upsert_many(self, bindings: list[Binding]) -> None:
        """Update-or-insert up to :data:`BULK_ROWS` contacts in four statements: the ids
        of the ruids the table has; those rows deleted and written again with their own
        ids; the new ones inserted. Multi-row statements, because one statement per
        contact (through the ORM, or ``executemany``, which MySQL's and PostgreSQL's
        drivers run a round trip per row) cost 0.4-0.9 ms each: a write-back of 100k
        contacts took over a minute, longer than a service manager waits at shutdown. Not
        an upsert (ON CONFLICT / ON DUPLICATE KEY): PostgreSQL's sequence and InnoDB's
        auto-increment use up an id per row even when it updates, and a busy registrar
        would run the id column out; here a refresh keeps its id, as Kamailio's UPDATE."""
        m = self.model
        rows = {b.ruid: self._row_values(b) for b in bindings}  # (one per ruid: the last)
        known = dict(m.select(m.ruid, m.id).where(m.ruid.in_(list(rows))).tuples())
        if known:
            m.delete().where(m.ruid.in_(list(known))).execute()
            self._insert_rows([{"id": known[r], **v} for r, v in rows.items() if r in known])
        new = [v for r, v in rows.items() if r not in known]
        if new:
            self._insert_rows(new)

    def _insert_rows(self, rows: list[dict[str, Any]]) -> None:
        """One multi-row INSERT of ``rows`` (the same columns each), the values converted
        as the ORM converts them and passed as parameters."""
        m = self.model
        db = self.database
        open_q, close_q = db.quote[0], db.quote[-1]
        fields = [m._meta.columns[c] for c in rows[0]]
        names = ", ".join(f"{open_q}{f.column_name}{close_q}" for f in fields)
        one = "(" + ", ".join([db.param] * len(fields)) + ")"
        table = f"{open_q}{m._meta.table_name}{close_q}"
        sql = f"INSERT INTO {table} ({names}) VALUES " + ", ".join([one] * len(rows))
        params = [f.db_value(row[f.column_name]) for row in rows for f in fields]
        db.execute_sql(sql, params)

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
        # SQLite: take the write lock first (BEGIN IMMEDIATE, waiting out the busy timeout).
        # A deferred transaction that reads before it writes fails at once ("database is
        # locked") when another process (a worker, Kamailio) wrote meanwhile.
        sqlite = isinstance(self.database, peewee.SqliteDatabase)
        lock = {"lock_type": "IMMEDIATE"} if sqlite else {}
        with self.database.atomic(**lock):
            if batch.deletes:
                self._db_delete(batch.deletes)
            upserts = batch.upserts
            if len(upserts) < BULK_FROM:  # (db_mode 1: a REGISTER's own contacts)
                for b in upserts:
                    self._db_update(b)
            else:
                for start in range(0, len(upserts), BULK_ROWS):
                    self._db_upsert_many(upserts[start : start + BULK_ROWS])
            for op, arg in batch.ops:
                if op == "save":
                    self._db_update(arg)
                elif op == "delete":
                    self._db_delete(arg)
                else:
                    self._db_expire(arg)
        return len(batch)
