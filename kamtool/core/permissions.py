"""The permissions module's tables: ``address`` (IP ACL groups) and ``trusted``.

``address add GRP IP [MASK] [PORT] [TAG]`` writes kamctl's row; ``rm GRP IP`` deletes
every row of that group and address, as kamctl does. ``trusted add SRC_IP PROTO
[FROM_PATTERN] [TAG]`` follows kamctl's argument order and adds the columns kamctl
cannot set (ruri_pattern, priority) as options. Kamailio caches both tables: the CLI
asks for ``permissions.addressReload`` / ``trustedReload`` after an edit.
"""

from __future__ import annotations

from typing import Any

from kamtool.core import validate
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound


def _address_row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "grp": r.grp,
        "ip_addr": r.ip_addr,
        "mask": r.mask,
        "port": r.port,
        "tag": r.tag,
    }


def _trusted_row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "src_ip": r.src_ip,
        "proto": r.proto,
        "from_pattern": r.from_pattern,
        "ruri_pattern": r.ruri_pattern,
        "tag": r.tag,
        "priority": r.priority,
    }


# ----------------------------------------------------------------------------- address


def address_add(
    db: peewee.Database,
    grp: str | int,
    ip: str,
    mask: str | int | None = None,
    port: str | int | None = None,
    tag: str | None = None,
) -> Change:
    """Insert an address row; refuse an exact duplicate (same grp, ip, mask, port)."""
    group = validate.group_id(grp)
    addr = validate.ip_address(ip)
    prefix = validate.mask(mask, addr)
    port_no = validate.port(port if port not in (None, "") else 0)
    # kamctl writes '' for a missing tag; Kamailio treats '' and NULL alike (no tag AVP).
    tag_text = validate.text(tag or "", "tag", max_len=64)
    A = models.Address
    values = {"grp": group, "ip_addr": str(addr), "mask": prefix, "port": port_no, "tag": tag_text}
    with reading("address"):
        dup = A.select(A.id).where(
            (A.grp == group) & (A.ip_addr == str(addr)) & (A.mask == prefix) & (A.port == port_no)
        )
        if dup.exists():
            raise AlreadyExists(
                f"address {addr}/{prefix} port {port_no} is already in group {group}"
            )
    try:
        with transaction(db, "address"):
            new_id = A.insert(**values).execute()
    except BadInput:
        if port_no > 32767:  # Kamailio's PostgreSQL schema has a signed SMALLINT port
            raise BadInput(
                f"port {port_no} does not fit this database's address.port column "
                "(SMALLINT, at most 32767, in Kamailio's PostgreSQL schema)"
            ) from None
        raise
    return Change(
        "address",
        "added",
        [{"id": new_id, **values}],
        1,
        f"address {addr}/{prefix} added to group {group}",
    )


def address_remove(db: peewee.Database, grp: str | int, ip: str) -> Change:
    """Delete the rows of group ``grp`` with address ``ip`` (kamctl address rm)."""
    group = validate.group_id(grp)
    addr = str(validate.ip_address(ip))
    A = models.Address
    where = (A.grp == group) & (A.ip_addr == addr)
    with transaction(db, "address"):
        rows = [_address_row(r) for r in A.select().where(where)]
        if rows:
            A.delete().where(where).execute()
    if not rows:
        raise NotFound(f"no address {addr} in group {group}")
    return Change(
        "address", "removed", rows, len(rows), f"address {addr} removed from group {group}"
    )


def address_show(db: peewee.Database, grp: str | int | None = None) -> list[dict[str, Any]]:
    """Address rows, optionally of one group, in group then id order."""
    A = models.Address
    query = A.select().order_by(A.grp, A.id)
    if grp is not None:
        query = query.where(A.grp == validate.group_id(grp))
    with reading("address"):
        return [_address_row(r) for r in query]


# ----------------------------------------------------------------------------- trusted


def trusted_add(
    db: peewee.Database,
    src_ip: str,
    proto: str,
    from_pattern: str | None = None,
    tag: str | None = None,
    *,
    ruri_pattern: str | None = None,
    priority: str | int = 0,
) -> Change:
    """Insert a trusted row; refuse a duplicate of (src_ip, proto, from_pattern, ruri_pattern).

    Unlike kamctl, which writes '' for a missing pattern, a missing pattern is stored as
    NULL (the schema default): the permissions module skips the regex match for NULL,
    while '' relies on the C library accepting an empty regular expression.
    """
    ip = str(validate.ip_address(src_ip, "source IP"))
    values = {
        "src_ip": ip,
        "proto": validate.proto(proto),
        "from_pattern": validate.posix_regex(from_pattern, "from pattern", max_len=64)
        if from_pattern
        else None,
        "ruri_pattern": validate.posix_regex(ruri_pattern, "R-URI pattern", max_len=64)
        if ruri_pattern
        else None,
        "tag": validate.text(tag, "tag", max_len=64) if tag else None,
        "priority": validate.integer(priority, "priority"),
    }
    T = models.Trusted
    with reading("trusted"):
        dup = T.select(T.id).where(
            (T.src_ip == ip)
            & (T.proto == values["proto"])
            & _same(T.from_pattern, values["from_pattern"])
            & _same(T.ruri_pattern, values["ruri_pattern"])
        )
        if dup.exists():
            raise AlreadyExists(
                f"trusted source {ip} ({values['proto']}) with these patterns exists already"
            )
    with transaction(db, "trusted"):
        new_id = T.insert(**values).execute()
    return Change("trusted", "added", [{"id": new_id, **values}], 1, f"trusted source {ip} added")


def _same(column: Any, value: str | None) -> Any:
    return column.is_null() if value is None else column == value


def trusted_remove(db: peewee.Database, src_ip: str) -> Change:
    """Delete every trusted row of ``src_ip`` (kamctl trusted rm)."""
    ip = str(validate.ip_address(src_ip, "source IP"))
    T = models.Trusted
    with transaction(db, "trusted"):
        rows = [_trusted_row(r) for r in T.select().where(T.src_ip == ip)]
        if rows:
            T.delete().where(T.src_ip == ip).execute()
    if not rows:
        raise NotFound(f"no trusted source {ip}")
    return Change("trusted", "removed", rows, len(rows), f"trusted source {ip} removed")


def trusted_show(db: peewee.Database, src_ip: str | None = None) -> list[dict[str, Any]]:
    """Trusted rows, optionally of one source IP."""
    T = models.Trusted
    query = T.select().order_by(T.src_ip, T.id)
    if src_ip is not None:
        query = query.where(T.src_ip == str(validate.ip_address(src_ip, "source IP")))
    with reading("trusted"):
        return [_trusted_row(r) for r in query]
