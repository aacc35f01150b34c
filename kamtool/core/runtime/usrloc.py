"""Registrations (usrloc): ``ul.dump``, ``ul.lookup``, ``ul.add``, ``ul.rm``, ``ul.flush``."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc, unset
from kamtool.core.validate import sip_uri
from kamtool.errors import BadInput, NotFound, RpcError

DEFAULT_TABLE = "location"
ALL_METHODS = 4294967295  # usrloc's "all methods" bit mask (NULL in the DB)

# Kamailio's contact keys -> our row keys, in Kamailio's order.
CONTACT_KEYS = {
    "Address": "contact",
    "Expires": "expires",
    "Q": "q",
    "Call-ID": "call_id",
    "CSeq": "cseq",
    "User-Agent": "user_agent",
    "Received": "received",
    "Path": "path",
    "State": "state",
    "Flags": "flags",
    "CFlags": "cflags",
    "Socket": "socket",
    "Methods": "methods",
    "Ruid": "ruid",
    "Instance": "instance",
    "Reg-Id": "reg_id",
    "Server-Id": "server_id",
    "Tcpconn-Id": "tcpconn_id",
    "Keepalive": "keepalive",
    "Last-Keepalive": "last_keepalive",
    "KA-Roundtrip": "ka_roundtrip",
    "Last-Modified": "last_modified",
}


def contact_row(aor: str, contact: dict[str, Any]) -> dict[str, Any]:
    """One flat row for a contact of ``aor``.

    ``"[not set]"`` becomes None, ``Q`` -1 (not given) becomes None, ``Expires``
    ``"expired"`` becomes ``expires`` 0 with ``expired`` true, and ``"permanent"``
    becomes ``expires`` None with ``permanent`` true: scripts always get a number or null.
    """
    row: dict[str, Any] = {"aor": aor}
    for key, name in CONTACT_KEYS.items():
        row[name] = unset(contact.get(key))
    for key, value in contact.items():  # keys a newer server adds are kept too
        if key not in CONTACT_KEYS:
            row[key.lower().replace("-", "_")] = unset(value)
    expires = row.get("expires")
    row["expired"] = expires == "expired" or (isinstance(expires, int) and expires <= 0)
    if expires == "expired":
        row["expires"] = 0
    row["permanent"] = expires == "permanent"
    if row["permanent"]:
        row["expires"] = None
    if row.get("q") == -1:
        row["q"] = None
    return row


def _contacts(contacts: Any) -> list[dict[str, Any]]:
    """``[{"Contact": {...}}, ...]`` (or bare contact objects) -> contact objects."""
    out = []
    for item in contacts or []:
        if isinstance(item, dict):
            out.append(item.get("Contact", item))
    return out


def _domains(dump: Any) -> list[dict[str, Any]]:
    if not isinstance(dump, dict):
        return []
    return [d.get("Domain", d) for d in dump.get("Domains", []) if isinstance(d, dict)]


def dump_rows(dump: Any, *, table: str | None = None) -> list[dict[str, Any]]:
    """Every contact of an ``ul.dump`` answer as flat rows (``table`` filters the domain)."""
    rows = []
    for domain in _domains(dump):
        if table and domain.get("Domain") != table:
            continue
        for aor in domain.get("AoRs", []):
            info = aor.get("Info", aor) if isinstance(aor, dict) else {}
            name = str(info.get("AoR", ""))
            rows.extend(contact_row(name, c) for c in _contacts(info.get("Contacts")))
    return rows


def brief_rows(dump: Any, *, table: str | None = None) -> list[dict[str, Any]]:
    """The AoRs of an ``ul.dump brief`` (or full) answer: ``[{"aor": ...}]``."""
    rows = []
    for domain in _domains(dump):
        if table and domain.get("Domain") != table:
            continue
        for aor in domain.get("AoRs", []):
            if not isinstance(aor, dict):
                continue
            info = aor.get("Info", aor)
            rows.append({"aor": str(info.get("AoR", ""))})
    return rows


def dump_stats(dump: Any) -> list[dict[str, Any]]:
    """Per-table summary of an ``ul.dump`` answer: table, size, records, max slots."""
    return [
        {
            "table": d.get("Domain"),
            "size": d.get("Size"),
            "records": (d.get("Stats") or {}).get("Records"),
            "max_slots": (d.get("Stats") or {}).get("Max-Slots"),
        }
        for d in _domains(dump)
    ]


def lookup_rows(answer: Any) -> list[dict[str, Any]]:
    """The contacts of an ``ul.lookup`` answer as flat rows."""
    if not isinstance(answer, dict):
        return []
    aor = str(answer.get("AoR", ""))
    return [contact_row(aor, c) for c in _contacts(answer.get("Contacts"))]


# --------------------------------------------------------------------------- calls


def aor_of(aor: str | None) -> str:
    """The AoR as usrloc keys it: ``sip:1001@example.com`` -> ``1001@example.com``
    (kamctl strips the scheme too; Kamailio would look the URI up as it is and miss)."""
    text = str(aor or "").strip()
    for scheme in ("sip:", "sips:"):
        if text.lower().startswith(scheme):
            return text[len(scheme) :]
    return text


def show(
    rpc: Rpc, aor: str | None = None, *, brief: bool = False, table: str = DEFAULT_TABLE
) -> list[dict[str, Any]]:
    """Contacts of one AoR, or of all (``brief``: only the AoR names)."""
    if aor is None:
        if brief:
            return brief_rows(rpc.call("ul.dump", "brief"), table=table)
        return dump_rows(rpc.call("ul.dump"), table=table)
    try:
        aor = aor_of(aor)
        answer = rpc.call("ul.lookup", table, aor)  # a number here must stay a string
    except RpcError as exc:
        msg = str(exc.details.get("rpc_message", exc.message))
        if "has no contacts" in msg:
            return []
        if "not found" in msg.lower():
            raise NotFound(
                f"{aor} is not registered (table {table})", rpc_code=exc.rpc_code
            ) from None
        raise
    rows = lookup_rows(answer)
    if brief:
        return [{"aor": str(aor)}] if rows else []
    return rows


def online(rpc: Rpc, *, table: str = DEFAULT_TABLE) -> list[dict[str, Any]]:
    """The AoRs with at least one contact that has not expired (kamctl online), sorted:
    ``[{"aor", "contacts"}]``. An AoR whose contacts all expired but are not yet swept
    from memory is not online."""
    counts: dict[str, int] = {}
    for row in dump_rows(rpc.call("ul.dump"), table=table):
        if not row["expired"]:
            counts[row["aor"]] = counts.get(row["aor"], 0) + 1
    return [{"aor": aor, "contacts": n} for aor, n in sorted(counts.items())]


def remove(rpc: Rpc, aor: str, contact: str | None = None, *, table: str = DEFAULT_TABLE) -> None:
    """Remove all contacts of ``aor``, or just ``contact``.

    Kamailio's ``ul.rm`` answers ``{}`` even for an AoR it does not know, so the AoR is
    looked up first: an unknown one raises :class:`NotFound`.
    """
    aor = aor_of(aor)
    if contact is None:
        show(rpc, aor, brief=True, table=table)  # NotFound for an unknown AoR
        rpc.call("ul.rm", table, str(aor))
        return
    try:
        rpc.call("ul.rm_contact", table, str(aor), str(contact))
    except RpcError as exc:
        if exc.rpc_code == 404:
            raise NotFound(f"{aor} has no contact {contact}", rpc_code=exc.rpc_code) from None
        raise


def add(
    rpc: Rpc,
    aor: str,
    contact: str,
    *,
    expires: int = 3600,
    q: float | None = None,
    path: str = "",
    flags: int = 0,
    cflags: int = 0,
    methods: int = ALL_METHODS,
    table: str = DEFAULT_TABLE,
) -> None:
    """Add (or refresh) a contact: ``ul.add table aor contact expires q path flags cflags
    methods``. ``expires`` 0 makes a permanent contact; ``q`` None means "not given"."""
    if expires < 0:
        raise BadInput("expires must be 0 (permanent) or a number of seconds")
    # Kamailio stores any text; a contact that is no SIP URI only turns calls into 404s
    contact = sip_uri(contact, "contact", max_len=512)
    aor = aor_of(aor)
    if not aor:
        raise BadInput("the AoR must not be empty")
    if q is not None and not 0.0 <= q <= 1.0:
        raise BadInput("q must be between 0 and 1")
    rpc.call(
        "ul.add", table, str(aor), str(contact), int(expires),
        float(q) if q is not None else -1.0, path, int(flags), int(cflags), int(methods),
    )  # fmt: skip


def flush(rpc: Rpc) -> None:
    """Write usrloc's in-memory changes to the database now (``ul.flush``)."""
    rpc.call("ul.flush")
