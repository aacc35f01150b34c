"""The ``dispatcher`` table: destinations grouped in sets.

``add SETID URI [FLAGS] [PRIORITY] [ATTRS] [DESCRIPTION]`` writes kamctl's row (the
attributes checked strictly: see :mod:`kamtool.core.dispatch.attrs`),
``rm ID`` deletes one destination by row id (as kamctl does), ``rmset SETID`` a whole
set. The flags column is the bitmask 1 inactive, 2 trying, 4 disabled, 8 probing,
16 skip DNS; Kamailio loads the table at start and on ``dispatcher.reload``.
"""

from __future__ import annotations

from typing import Any

from kamtool.core import validate
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound

FLAG_BITS = 31  # the five flags above; other bits are rejected as typos


def _row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "setid": r.setid,
        "destination": r.destination,
        "flags": r.flags,
        "priority": r.priority,
        "attrs": r.attrs,
        "description": r.description,
    }


def attributes(attrs: str = "", named: dict[str, Any] | None = None) -> str:
    """``attrs`` with the ``named`` attributes (``{"weight": 50}``; None: not given)
    appended, checked as the dispatcher reads them; BadInput names what is wrong."""
    from kamtool.core.dispatch.attrs import AttrError, validate_attrs

    text = (attrs or "").strip()
    extra = [f"{k}={v}" for k, v in (named or {}).items() if v is not None]
    if extra:
        text = ";".join([text.rstrip(";")] + extra if text else extra)
    text = validate.text(text, "attrs", max_len=128)
    try:
        validate_attrs(text)
    except AttrError as exc:
        raise BadInput(str(exc), hint=ATTRS_HINT) from None
    return text


ATTRS_HINT = (
    "attributes are name=value;... with weight and rweight 1-100, maxload, cc 0/1 and "
    "latency integers, duid a token, socket [proto:]address[:port], obproxy and ping_from "
    "SIP URIs"
)


def add(
    db: peewee.Database,
    setid: str | int,
    uri: str,
    flags: str | int = 0,
    priority: str | int = 0,
    attrs: str = "",
    description: str = "",
    named: dict[str, Any] | None = None,
) -> Change:
    """Insert a destination; refuse the same URI twice in one set. ``named`` attributes
    (``weight``, ``duid`` ...) are added to ``attrs``."""
    values = {
        "setid": validate.group_id(setid, "set id"),
        "destination": validate.sip_uri(uri, "destination"),
        "flags": validate.integer(flags, "flags", minimum=0, maximum=FLAG_BITS),
        "priority": validate.integer(priority, "priority"),
        "attrs": attributes(attrs, named),
        "description": validate.text(description or "", "description", max_len=64),
    }
    D = models.Dispatcher
    with reading("dispatcher"):
        dup = D.select(D.id).where(
            (D.setid == values["setid"]) & (D.destination == values["destination"])
        )
        if dup.exists():
            raise AlreadyExists(
                f"{values['destination']} is already in dispatcher set {values['setid']}"
            )
    with transaction(db, "dispatcher"):
        new_id = D.insert(**values).execute()
    return Change(
        "dispatcher",
        "added",
        [{"id": new_id, **values}],
        1,
        f"{values['destination']} added to dispatcher set {values['setid']}",
    )


def remove(db: peewee.Database, row_id: str | int) -> Change:
    """Delete the destination with row id ``row_id`` (the id ``dispatcher show`` prints)."""
    ident = validate.integer(row_id, "destination id", minimum=0)
    D = models.Dispatcher
    with transaction(db, "dispatcher"):
        rows = [_row(r) for r in D.select().where(D.id == ident)]
        if rows:
            D.delete().where(D.id == ident).execute()
    if not rows:
        raise NotFound(f"no dispatcher destination with id {ident}")
    return Change("dispatcher", "removed", rows, 1, f"dispatcher destination {ident} removed")


def remove_set(db: peewee.Database, setid: str | int) -> Change:
    """Delete every destination of set ``setid``."""
    ident = validate.group_id(setid, "set id")
    D = models.Dispatcher
    with transaction(db, "dispatcher"):
        rows = [_row(r) for r in D.select().where(D.setid == ident).order_by(D.id)]
        if rows:
            D.delete().where(D.setid == ident).execute()
    if not rows:
        raise NotFound(f"no dispatcher set {ident}")
    return Change(
        "dispatcher",
        "removed",
        rows,
        len(rows),
        f"dispatcher set {ident} removed ({len(rows)} destinations)",
    )


def show(db: peewee.Database, setid: str | int | None = None) -> list[dict[str, Any]]:
    """Destinations ordered by set and id, optionally of one set."""
    D = models.Dispatcher
    query = D.select().order_by(D.setid, D.id)
    if setid is not None:
        query = query.where(D.setid == validate.group_id(setid, "set id"))
    with reading("dispatcher"):
        return [_row(r) for r in query]


SELECT_HINT = (
    "algorithm 0 hashes --call-id, 1 --from-uri, 2 --to-uri, 3 --ruri, 5 --auth-user "
    "(else round-robin), 7 --key"
)


def select(
    db: peewee.Database,
    setid: str | int,
    alg: str | int,
    request: dict[str, str | None] | None = None,
    *,
    calls: int = 1,
    flags: int = 2,
    use_default: bool = False,
) -> dict[str, Any]:
    """``ds_select_dst(setid, alg)`` offline on the table as Kamailio loads it: the first
    call's destination and failover list (``request``: ``call_id``, ``from_uri``,
    ``to_uri``, ``ruri``, ``auth_user``, ``pv_value``); with ``calls`` > 1 also how many
    of that many calls each destination gets. NotFound when nothing is selected."""
    from kamtool.core.dispatch.engine import DsEngine
    from kamtool.core.dispatch.model import (
        ALGORITHMS,
        DsParams,
        DsRequest,
        MissingInput,
        SelectError,
    )

    ident = validate.group_id(setid, "set id")
    algorithm = validate.integer(alg, "algorithm", minimum=0, maximum=max(ALGORITHMS))
    count = validate.integer(calls, "calls", minimum=1, maximum=100000)
    engine = DsEngine(
        [(r["setid"], r["destination"], r["flags"], r["priority"], r["attrs"] or "",
          r["description"] or "") for r in show(db, ident)],
        DsParams(flags=flags, use_default=use_default),
    )  # fmt: skip
    req = DsRequest(**{k: v for k, v in (request or {}).items() if v is not None})
    counts: dict[str, int] = {}
    first = None
    for n in range(count):
        if n and algorithm == 10:
            req.call_id = f"{req.call_id}-{n}"  # one call each (call load keys on it)
        try:
            sel = engine.select(ident, algorithm, req)
        except MissingInput as exc:
            raise BadInput(f"algorithm {algorithm}: {exc}", hint=SELECT_HINT) from None
        except SelectError as exc:
            if first is None:
                raise NotFound(f"dispatcher set {ident}, algorithm {algorithm}: {exc}") from None
            counts["(none)"] = counts.get("(none)", 0) + 1
            continue
        if first is None:
            first = {
                "set": ident, "algorithm": algorithm, "method": ALGORITHMS[algorithm],
                "destination": sel.dest.uri, "failover": [d.uri for d in sel.failover],
                "branches": [d.uri for d in sel.branches],
            }  # fmt: skip
        counts[sel.dest.uri] = counts.get(sel.dest.uri, 0) + 1
    assert first is not None
    return {**first, "counts": counts} if count > 1 else first


def hash_of(value: str, value2: str | None = None, slots: int | str = 0) -> dict[str, int]:
    """``dispatcher.hash``: the dispatcher's hash of one or two strings, and its slot
    among ``slots`` (0: 0)."""
    from kamtool.core.dispatch.hashing import ds_hash

    nslots = validate.integer(slots, "slots", minimum=0)
    hashid = ds_hash(value, value2)
    return {"hashid": hashid, "slot": hashid % nslots if nslots > 0 else 0}
