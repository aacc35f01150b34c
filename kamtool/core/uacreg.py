"""The uac module's ``uacreg`` table: registrations Kamailio makes upstream (kamcli uacreg).

``add L_UUID L_USERNAME L_DOMAIN R_USERNAME R_DOMAIN REALM AUTH_USERNAME AUTH_PASSWORD
AUTH_PROXY EXPIRES`` follows kamcli's argument order. The fields Kamailio requires
(everything but realm, contact_addr and socket) must not be empty, ``auth_proxy`` is a
SIP URI, and a row has a password or a 32-hex-digit ``auth_ha1``: Kamailio ignores a
row without. Passwords and HA1 values are never shown unless asked for (``secrets``).
"""

from __future__ import annotations

import re
from typing import Any

from kamtool.core import validate
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound

SECRETS = ("auth_password", "auth_ha1")
PUBLIC = ("id", "l_uuid", "l_username", "l_domain", "r_username", "r_domain", "realm",
          "auth_username", "auth_proxy", "expires", "flags", "reg_delay", "contact_addr",
          "socket")  # fmt: skip
# the flags column: bit 0 keeps Kamailio from registering the line
FLAG_DISABLED = 1

_HA1 = re.compile(r"^[0-9a-fA-F]{32}$")
_HOSTPORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(:\d{1,5})?$")
_SOCKET = re.compile(r"^(udp|tcp|tls|sctp):\S+$", re.IGNORECASE)


def public_row(row: Any, *, secrets: bool = False) -> dict[str, Any]:
    out = {c: getattr(row, c) for c in PUBLIC}
    if secrets:
        out.update({c: getattr(row, c) for c in SECRETS})
    return out


def _required(value: str, what: str, size: int = 64) -> str:
    return validate.text(value.strip(), what, max_len=size, allow_empty=False)


def _hostport(value: str, what: str) -> str:
    text = _required(value, what)
    if not _HOSTPORT.match(text):
        raise BadInput(f"{what} {value!r} is not host or host:port")
    return text


def row_values(
    l_uuid: str,
    l_username: str,
    l_domain: str,
    r_username: str,
    r_domain: str,
    realm: str,
    auth_username: str,
    auth_password: str,
    auth_proxy: str,
    expires: str | int,
    *,
    flags: str | int = 0,
    reg_delay: str | int = 0,
    contact_addr: str = "",
    socket: str = "",
    auth_ha1: str = "",
) -> dict[str, Any]:
    """Checked column values (BadInput for what Kamailio would ignore or misuse)."""
    values = {
        "l_uuid": _required(l_uuid, "l_uuid"),
        "l_username": _required(l_username, "l_username"),
        "l_domain": _hostport(l_domain, "l_domain"),
        "r_username": _required(r_username, "r_username"),
        "r_domain": _hostport(r_domain, "r_domain"),
        "realm": validate.text(realm or "", "realm", max_len=64),
        "auth_username": _required(auth_username, "auth_username"),
        "auth_password": validate.text(auth_password or "", "auth_password", max_len=64),
        "auth_ha1": (auth_ha1 or "").strip(),
        "auth_proxy": validate.sip_uri(auth_proxy, "auth_proxy", max_len=255),
        "expires": validate.integer(expires, "expires", minimum=1),
        "flags": validate.integer(flags, "flags", minimum=0),
        "reg_delay": validate.integer(reg_delay, "reg_delay", minimum=0),
        "contact_addr": validate.text(contact_addr or "", "contact_addr", max_len=255),
        "socket": validate.text(socket or "", "socket", max_len=128),
    }
    if not values["auth_password"] and not values["auth_ha1"]:
        raise BadInput("give a password (or an HA1 with --ha1): Kamailio ignores a row without")
    if values["auth_ha1"] and not _HA1.match(values["auth_ha1"]):
        raise BadInput("the HA1 must be 32 hexadecimal digits")
    if values["socket"] and not _SOCKET.match(values["socket"]):
        raise BadInput(f"socket {socket!r} is not proto:address:port (e.g. udp:10.0.0.1:5060)")
    if values["contact_addr"] and not _HOSTPORT.match(values["contact_addr"]):
        raise BadInput(f"contact_addr {contact_addr!r} is not host or host:port")
    return values


def _summary(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in SECRETS}


def add(db: peewee.Database, *args: Any, **options: Any) -> Change:
    """Insert a registration; its l_uuid must be new (a unique key)."""
    values = row_values(*args, **options)
    U = models.Uacreg
    with reading("uacreg"):
        if U.select(U.id).where(U.l_uuid == values["l_uuid"]).exists():
            raise AlreadyExists(f"registration {values['l_uuid']} exists already")
    with transaction(db, "uacreg"):
        new_id = U.insert(**values).execute()
    return Change(
        "uacreg", "added", [{"id": new_id, **_summary(values)}], 1,
        f"registration {values['l_uuid']} added ({values['r_username']}@{values['r_domain']})",
    )  # fmt: skip


def _one(l_uuid: str) -> Any:
    U = models.Uacreg
    with reading("uacreg"):
        row = U.select().where(U.l_uuid == l_uuid).first()
    if row is None:
        raise NotFound(f"no registration {l_uuid}")
    return row


def passwd(db: peewee.Database, l_uuid: str, password: str, *, ha1: bool = False) -> Change:
    """Set the password (or, with ``ha1``, the HA1 and clear the password)."""
    row = _one(l_uuid)
    if ha1:
        value = password.strip()
        if not _HA1.match(value):
            raise BadInput("the HA1 must be 32 hexadecimal digits")
        update = {"auth_ha1": value, "auth_password": ""}
    else:
        if not password:
            raise BadInput("the password must not be empty")
        update = {"auth_password": validate.text(password, "password", max_len=64), "auth_ha1": ""}
    U = models.Uacreg
    with transaction(db, "uacreg"):
        U.update(**update).where(U.id == row.id).execute()
    return Change("uacreg", "updated", [public_row(row)], 1, f"password of {l_uuid} changed")


def set_flags(db: peewee.Database, l_uuid: str, *, disabled: bool) -> Change:
    """Set or clear the disabled bit of ``flags`` in the table (survives reloads)."""
    row = _one(l_uuid)
    flags = (row.flags | FLAG_DISABLED) if disabled else (row.flags & ~FLAG_DISABLED)
    U = models.Uacreg
    with transaction(db, "uacreg"):
        U.update(flags=flags).where(U.id == row.id).execute()
    data = {**public_row(row), "flags": flags}
    word = "disabled" if disabled else "enabled"
    return Change("uacreg", "updated", [data], 1, f"registration {l_uuid} {word} in the database")


def remove(db: peewee.Database, l_uuid: str) -> Change:
    row = _one(l_uuid)
    U = models.Uacreg
    with transaction(db, "uacreg"):
        U.delete().where(U.id == row.id).execute()
    return Change("uacreg", "removed", [public_row(row)], 1, f"registration {l_uuid} removed")


def show(
    db: peewee.Database, l_uuid: str | None = None, *, secrets: bool = False
) -> list[dict[str, Any]]:
    U = models.Uacreg
    query = U.select().order_by(U.l_uuid)
    if l_uuid is not None:
        query = query.where(U.l_uuid == l_uuid)
    with reading("uacreg"):
        return [public_row(r, secrets=secrets) for r in query]
