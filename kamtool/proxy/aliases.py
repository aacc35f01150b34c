"""``alias_db_lookup("dbaliases")``: an R-URI user that is an alias becomes the user it
stands for, before the location lookup.

As Kamailio's alias_db with ``use_domain 0`` (the reference cfg): the alias is looked up by
user name alone, in any ``alias_domain``; the first row found wins (alias_db's
``append_branches`` is off) and the R-URI becomes ``sip:<username>@<domain>`` of that row.
Like alias_db there is no cache: ``kamtool alias add`` takes effect with the next call.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class AliasLookup:
    """The ``dbaliases`` table of ``database``, read on each lookup."""

    def __init__(self, database: Any, *, use_domain: bool = False) -> None:
        self.database = database
        self.use_domain = use_domain
        self._model: Any = None

    def query(self, user: str, domain: str | None = None) -> tuple[str, str] | None:
        """``(username, domain)`` the alias ``user`` (@``domain`` when ``use_domain``)
        stands for, or None; raises on a database error (the proxy runs it on its
        database worker thread)."""
        if self._model is None:
            from kamtool.proxy.usrloc import bound_model

            self._model = bound_model("dbaliases", self.database)
        m = self._model
        where = m.alias_username == user
        if self.use_domain:
            where &= m.alias_domain == (domain or "")
        row = m.select(m.username, m.domain).where(where).order_by(m.id).first()
        return None if row is None else (row.username, row.domain)

    def lookup(self, user: str, domain: str | None = None) -> tuple[str, str] | None:
        """:meth:`query`, with a database error logged and counted as no alias, as
        alias_db's failure does (the call then goes on with its R-URI unchanged)."""
        try:
            return self.query(user, domain)
        except Exception as exc:
            log.error("alias_db_lookup: cannot read dbaliases: %s", exc)
            return None

    @staticmethod
    def apply(req: Any, found: tuple[str, str] | None) -> bool:
        """Rewrite ``req``'s R-URI to what an alias stands for; True when it was one."""
        if found is None:
            return False
        req.uri = f"sip:{found[0]}@{found[1]}"
        return True

    def rewrite(self, req: Any) -> bool:
        """Apply the lookup to ``req``'s R-URI; True when it was an alias."""
        uri = req.uri
        user = getattr(uri, "user", None)
        if not user:
            return False
        return self.apply(req, self.lookup(user, getattr(uri, "host", None)))
