"""usrloc's ``location`` rows: a :class:`~kamtool.proxy.binding.Binding` to column values
and back, in the form Kamailio writes them (``q = -1`` when no q was given, ``methods``
NULL for "all", permanent contacts with expires 2030-05-28 21:32:15)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kamtool.proxy.binding import CS_SYNC, Binding

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
