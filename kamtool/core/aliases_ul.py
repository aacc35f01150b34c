"""Aliases kept in usrloc (kamctlrc ``ALIASES_TYPE="UL"``): the ``aliases`` usrloc table.

What ``kamctl alias add|rm|show`` do: an alias is an AoR of the ``aliases`` table whose
one permanent contact is the URI of the user it stands for, written with
``ul.add aliases ALIAS@DOMAIN sip:USER@DOMAIN 0 1.0 . 0 0 <all methods>`` and read with
``ul.dump`` / ``ul.lookup aliases ALIAS@DOMAIN``. The running server must have that table
(its cfg calls ``lookup("aliases")``); a server without it answers "Domain table not found".

kamctl refuses an alias named like an existing subscriber and an alias already defined;
so do we. kamctl's own duplicate check (``check_ul_alias``) looks for a reply line
starting with "404", which no JSON-RPC reply has, so with ``ALIASES_TYPE="UL"`` kamctl 5.6
refuses every alias that is new: we look the alias up and refuse only a real duplicate.
"""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc, usrloc
from kamtool.core.users import User
from kamtool.core.writes import Change
from kamtool.errors import AlreadyExists, BadInput, NotFound, RpcError

TABLE = "aliases"  # kamctl's ALS_TABLE default
DEFAULT_Q = 1.0  # kamctl's DEFAULT_Q
NO_PATH = "."  # kamctl passes "." for "no Path"


def _target(contact: str) -> str:
    """``user@domain`` of a contact URI (``sip:1001@host;x=y`` -> ``1001@host``)."""
    text = contact.split(":", 1)[1] if contact.lower().startswith(("sip:", "sips:")) else contact
    return text.split(";", 1)[0].split("?", 1)[0]


def _row(aor: str, contact: str) -> dict[str, Any]:
    return {"alias": aor, "user": _target(contact), "contact": contact}


def _no_table() -> BadInput:
    return BadInput(
        f"the running server has no usrloc table '{TABLE}' (ALIASES_TYPE=UL)",
        hint=f'its cfg must use it, e.g. lookup("{TABLE}"); or set ALIASES_TYPE="DB"',
    )


def _contacts(rpc: Rpc, alias: User) -> list[dict[str, Any]]:
    """The alias's contacts ([] when the server does not have the alias)."""
    try:
        return usrloc.lookup_rows(rpc.call("ul.lookup", TABLE, alias.aor))
    except RpcError as exc:
        message = str(exc.details.get("rpc_message", exc.message)).lower()
        if "domain table not found" in message:
            raise _no_table() from None
        if "not found" in message or "no contacts" in message:
            return []
        raise


def refuse_subscriber_over_alias(rpc: Rpc, user: User) -> None:
    """``kamctl add`` with ALIASES_TYPE=UL: a new subscriber may not be named like an alias
    in the server's ``aliases`` table (lookup("aliases") would rewrite calls to it)."""
    current = _contacts(rpc, user)
    if current:
        raise AlreadyExists(
            f"user '{user}' already exists as an alias of '{_target(current[0]['contact'])}'"
        )


def add(rpc: Rpc, alias: User, user: User, *, is_subscriber: Any) -> Change:
    """Make ``alias`` stand for ``user`` in the server's ``aliases`` table.

    ``is_subscriber(User) -> bool`` answers from the subscriber table: an alias may
    not be a subscriber's name (kamctl: "overlap of alias with an existing subscriber").
    """
    if is_subscriber(alias):
        raise AlreadyExists(f"'{alias}' is a subscriber: an alias cannot have that name")
    current = _contacts(rpc, alias)
    if current:
        raise AlreadyExists(f"alias '{alias}' already points to '{current[0]['contact']}'")
    contact = f"sip:{user.aor}"
    usrloc.add(
        rpc, alias.aor, contact, expires=0, q=DEFAULT_Q, path=NO_PATH, table=TABLE
    )  # expires 0: permanent, as kamctl
    row = _row(alias.aor, contact)
    return Change("alias", "added", [row], 1, f"alias '{alias}' -> '{user}' added (usrloc)")


def remove(rpc: Rpc, alias: User) -> Change:
    """Delete ``alias`` from the ``aliases`` table (``ul.rm``)."""
    current = _contacts(rpc, alias)
    if not current:
        raise NotFound(f"non-existent alias '{alias}'")
    rpc.call("ul.rm", TABLE, alias.aor)
    rows = [_row(c["aor"], c["contact"]) for c in current]
    return Change("alias", "removed", rows, len(rows), f"alias '{alias}' removed (usrloc)")


def show(rpc: Rpc, user: User | None = None) -> list[dict[str, Any]]:
    """Every alias in the server's ``aliases`` table, or those of ``user``: standing for
    it, or the alias it is (as :func:`kamtool.core.aliases.show`).

    With usrloc's use_domain 0 the server keeps the alias's user part only, so that is
    what ``alias`` holds then (kamctl shows the same).
    """
    dump = rpc.call("ul.dump")
    if TABLE not in {t["table"] for t in usrloc.dump_stats(dump)}:
        raise _no_table()
    rows = [_row(r["aor"], r["contact"]) for r in usrloc.dump_rows(dump, table=TABLE)]
    if user is not None:
        names = {user.aor.lower(), user.username.lower()}  # (the alias without its domain)
        rows = [r for r in rows if r["user"].lower() == user.aor.lower()
                or r["alias"].lower() in names]  # fmt: skip
    return sorted(rows, key=lambda r: (r["alias"], r["user"]))
