"""Call detail records written by the acc module (``acc`` and ``missed_calls`` tables)."""

from __future__ import annotations

from typing import Any

from kamtool.core.writes import reading
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import BadInput

FIELDS = ("id", "time", "method", "sip_code", "sip_reason", "callid", "from_tag", "to_tag")


def show(db: peewee.Database, limit: int = 20, missed: bool = False) -> list[dict[str, Any]]:
    """The newest ``limit`` rows of ``acc`` (or ``missed_calls``), oldest of them first."""
    if limit < 1:
        raise BadInput(f"--limit must be at least 1, not {limit}")
    table = "missed_calls" if missed else "acc"
    model = models.MODELS[table]
    query = model.select().order_by(model.id.desc()).limit(limit)
    with reading(table):
        rows = [{f: getattr(r, f) for f in FIELDS} for r in query]
    return rows[::-1]
