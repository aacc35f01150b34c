"""The proxy's in-memory copies of the ``dialplan``, ``mtrees`` and lcr tables, as
Kamailio's dialplan, mtree and lcr modules keep them: loaded at start, replaced as a whole
on reload (``dialplan.reload``, ``mtree.reload``, ``lcr.reload``), never read from the
database per request.

The translations and lookups themselves are the pure engines of kamtool/core
(:mod:`kamtool.core.dialplan_engine`, :mod:`kamtool.core.mtree_engine`,
:mod:`kamtool.core.lcr_engine`). A gateway taken out of service at run time
(``lcr.defunct_gw``) stays so until its time or the next reload, as in Kamailio. As in
Kamailio, a reload that meets a row the module would refuse (or a database that cannot be
read) fails and keeps the rules loaded before.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kamtool.core.dialplan_engine import Dialplan, DialplanError, Rule
from kamtool.core.lcr import GW_COLUMNS, RULE_COLUMNS, TARGET_COLUMNS
from kamtool.core.lcr_engine import Lcr, LcrError
from kamtool.core.mtree_engine import DEFAULT_CHAR_LIST, Mtree, MtreeError
from kamtool.db import schema
from kamtool.db.models import make_model

__all__ = ["RuleTables", "TableLoadError"]

log = logging.getLogger(__name__)

_DIALPLAN_COLUMNS = ("id", "dpid", "pr", "match_op", "match_exp", "match_len", "subst_exp",
                     "repl_exp", "attrs")  # fmt: skip


class TableLoadError(Exception):
    """A reload that failed; the previous rules stay in use."""


def _rows(database: Any, table: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    m = make_model(schema.tables()[table], database)
    try:
        return [{c: getattr(r, c) for c in columns} for r in m.select().order_by(m.id)]
    except Exception:
        from kamtool.proxy.tables import rollback

        rollback(database)
        raise


class RuleTables:
    """``dialplan`` (a :class:`Dialplan`) and ``mtree`` (a :class:`Mtree`) of one proxy,
    with mtree's reload counter and time (``mtree.summary``)."""

    def __init__(self, database: Any, *, char_list: str = "") -> None:
        self.database = database
        self.char_list = char_list or DEFAULT_CHAR_LIST
        self.dialplan = Dialplan([])
        self.mtree = Mtree(self.char_list)
        self.mtree_reloads = 0
        self.mtree_loaded_at = 0
        self.lcr = Lcr([], [])

    def load(self) -> None:
        """Both tables at start; one that cannot be read is logged and stays empty."""
        for name, reload in (
            ("dialplan", self.reload_dialplan),
            ("mtrees", self.reload_mtree),
            ("lcr", self.reload_lcr),
        ):
            try:
                reload(initial=True)
            except TableLoadError as exc:
                log.warning("cannot load the %s table: %s", name, exc)

    def reload_dialplan(self, *, initial: bool = False) -> None:
        if self.database is None:
            raise TableLoadError("no database")
        try:
            rows = _rows(self.database, "dialplan", _DIALPLAN_COLUMNS)
            self.dialplan = Dialplan(Rule.from_row(r) for r in rows)
        except DialplanError as exc:
            raise TableLoadError(f"a dialplan rule does not load: {exc}") from None
        except Exception as exc:
            raise TableLoadError(str(exc)) from None

    def reload_mtree(self, *, initial: bool = False) -> None:
        if self.database is None:
            raise TableLoadError("no database")
        try:
            rows = _rows(self.database, "mtrees", ("id", "tname", "tprefix", "tvalue"))
            trees = Mtree.from_rows(rows, self.char_list)
        except MtreeError as exc:
            raise TableLoadError(f"an mtrees row does not load: {exc}") from None
        except Exception as exc:
            raise TableLoadError(str(exc)) from None
        self.mtree = trees
        if not initial:
            self.mtree_reloads += 1
        self.mtree_loaded_at = int(time.time())

    def reload_lcr(self, *, initial: bool = False) -> None:
        if self.database is None:
            raise TableLoadError("no database")
        try:
            gws = _rows(self.database, "lcr_gw", ("id", *GW_COLUMNS, "defunct"))
            rules = _rows(self.database, "lcr_rule", ("id", *RULE_COLUMNS))
            targets = _rows(self.database, "lcr_rule_target", ("id", "lcr_id", *TARGET_COLUMNS))
            self.lcr = Lcr.from_rows(gws, rules, targets)
        except LcrError as exc:
            raise TableLoadError(f"the lcr tables do not load: {exc}") from None
        except Exception as exc:
            raise TableLoadError(str(exc)) from None

    def lcr_gateways(self, lcr_id: int) -> list[Any]:
        """The gateways of ``lcr_id`` in load order: ``gw_index`` is the place here, from 1."""
        return [g for g in self.lcr.gateways.values() if g.lcr_id == lcr_id]
