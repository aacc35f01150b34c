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
from collections.abc import Callable
from functools import partial
from typing import Any

from kamtool.core.dialplan_engine import Dialplan, DialplanError, Rule
from kamtool.core.lcr import GW_COLUMNS, RULE_COLUMNS, TARGET_COLUMNS, rules_in_load_order
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
        if table == "lcr_rule":  # Kamailio's order: it decides where a stopper ends
            return rules_in_load_order(m, columns)
        return [{c: getattr(r, c) for c in columns} for r in m.select().order_by(m.id)]
    except Exception:
        from kamtool.proxy.tables import rollback

        rollback(database)
        raise


class RuleTables:
    """``dialplan`` (a :class:`Dialplan`), ``mtree`` (a :class:`Mtree`) and ``lcr`` (an
    :class:`Lcr`) of one proxy, with mtree's reload counter and time (``mtree.summary``)."""

    def __init__(self, database: Any, *, char_list: str = "") -> None:
        self.database = database
        self.char_list = char_list or DEFAULT_CHAR_LIST
        self.dialplan = Dialplan([])
        self.mtree = Mtree(self.char_list)
        self.mtree_reloads = 0
        self.mtree_loaded_at = 0
        self.lcr = Lcr([], [])

    def load(self) -> None:
        """Every table at start; one that cannot be read is logged and stays empty."""
        for name, reload in (("dialplan", self.reload_dialplan),
                             ("mtrees", partial(self.reload_mtree, initial=True)),
                             ("lcr", self.reload_lcr)):  # fmt: skip
            try:
                reload()
            except TableLoadError as exc:
                log.warning("cannot load the %s table: %s", name, exc)

    def _read(self, build: Callable[[], Any]) -> Any:
        """``build()`` (which reads the tables), its failure a :class:`TableLoadError`."""
        if self.database is None:
            raise TableLoadError("no database")
        try:
            return build()
        except (DialplanError, MtreeError, LcrError) as exc:
            raise TableLoadError(f"a row does not load: {exc}") from None
        except Exception as exc:  # missing table, database down
            raise TableLoadError(str(exc)) from None

    def reload_dialplan(self) -> None:
        self.dialplan = self._read(
            lambda: Dialplan(
                Rule.from_row(r) for r in _rows(self.database, "dialplan", _DIALPLAN_COLUMNS)
            )
        )

    def reload_mtree(self, *, initial: bool = False) -> None:
        columns = ("id", "tname", "tprefix", "tvalue")
        self.mtree = self._read(
            lambda: Mtree.from_rows(_rows(self.database, "mtrees", columns), self.char_list)
        )
        if not initial:
            self.mtree_reloads += 1
        self.mtree_loaded_at = int(time.time())

    def reload_lcr(self) -> None:
        def build() -> Lcr:
            return Lcr.from_rows(
                _rows(self.database, "lcr_gw", ("id", *GW_COLUMNS, "defunct")),
                _rows(self.database, "lcr_rule", ("id", *RULE_COLUMNS)),
                _rows(self.database, "lcr_rule_target", ("id", "lcr_id", *TARGET_COLUMNS)),
            )

        self.lcr = self._read(build)

    def lcr_gateways(self, lcr_id: int) -> list[Any]:
        """The gateways of ``lcr_id`` in load order: ``gw_index`` is the place here, from 1."""
        return [g for g in self.lcr.gateways.values() if g.lcr_id == lcr_id]
