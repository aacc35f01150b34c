"""The carrierroute module's tables (kamctl cr): carrier and domain names, routes
(``carrierroute``) and failure routes (``carrierfailureroute``).

Routes name their carrier and domain by id; both ids must be in ``carrier_name`` and
``domain_name`` (Kamailio's carrierroute does not start with an empty carrier_name
table). A carrier/domain whose routes all have probability 0 makes Kamailio's load fail,
so such a route is refused. ``cr reload`` is ``cr.reload_routes``.
"""

from __future__ import annotations

import re
from typing import Any

from kamtool.core import validate
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound

ROUTE_COLUMNS = ("carrier", "domain", "scan_prefix", "flags", "mask", "prob", "strip",
                 "rewrite_host", "rewrite_prefix", "rewrite_suffix", "description")  # fmt: skip
FAILURE_COLUMNS = ("carrier", "domain", "scan_prefix", "host_name", "reply_code", "flags",
                   "mask", "next_domain", "description")  # fmt: skip
_REPLY_CODE = re.compile(r"^[1-6.][0-9.]{2}$")


def _row(r: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    return {"id": r.id, **{c: getattr(r, c) for c in columns}}


def _id(value: Any, what: str) -> int:
    return validate.integer(value, what, minimum=0)


# ----------------------------------------------------------------------------- names


def _name_model(kind: str) -> tuple[Any, str]:
    return (models.CarrierName, "carrier") if kind == "carrier" else (models.DomainName, "domain")


def name_add(db: peewee.Database, kind: str, number: Any, name: str) -> Change:
    """Add a carrier (``kind`` carrier) or domain (``kind`` domain) name with its id."""
    model, column = _name_model(kind)
    values = {
        "id": _id(number, f"{kind} id"),
        column: validate.text(name.strip(), f"{kind} name", max_len=64, allow_empty=False),
    }
    with reading(model._meta.table_name):
        if model.select(model.id).where(model.id == values["id"]).exists():
            raise AlreadyExists(f"{kind} id {values['id']} exists already")
        if model.select(model.id).where(getattr(model, column) == values[column]).exists():
            raise AlreadyExists(f"{kind} name {values[column]!r} exists already")
    with transaction(db, model._meta.table_name):
        model.insert(**values).execute()
    return Change("carrierroute", "added", [values], 1, f"{kind} {values['id']} = {values[column]}")


def name_remove(db: peewee.Database, kind: str, number: Any) -> Change:
    """Remove a carrier or domain name; refused while routes still use it."""
    model, column = _name_model(kind)
    n = _id(number, f"{kind} id")
    R, F = models.Carrierroute, models.Carrierfailureroute
    used = (R.carrier == n) if kind == "carrier" else (R.domain == n)
    fused = (F.carrier == n) if kind == "carrier" else ((F.domain == n) | (F.next_domain == n))
    with transaction(db, model._meta.table_name):
        rows = [
            {"id": r.id, column: getattr(r, column)} for r in model.select().where(model.id == n)
        ]
        if rows:
            if R.select(R.id).where(used).exists() or F.select(F.id).where(fused).exists():
                raise BadInput(f"routes still use {kind} {n}: remove them first")
            model.delete().where(model.id == n).execute()
    if not rows:
        raise NotFound(f"no {kind} {n}")
    return Change("carrierroute", "removed", rows, 1, f"{kind} {n} removed")


def name_show(db: peewee.Database, kind: str) -> list[dict[str, Any]]:
    model, column = _name_model(kind)
    with reading(model._meta.table_name):
        return [{"id": r.id, column: getattr(r, column)} for r in model.select().order_by(model.id)]


def _require_names(carrier: int, *domains: int) -> None:
    C, D = models.CarrierName, models.DomainName
    with reading("carrier_name"):
        if not C.select(C.id).where(C.id == carrier).exists():
            raise NotFound(f"no carrier {carrier}", hint="kamtool cr carrier add ID NAME")
        for d in domains:
            if not D.select(D.id).where(D.id == d).exists():
                raise NotFound(f"no domain {d}", hint="kamtool cr domain add ID NAME")


# ----------------------------------------------------------------------------- routes


def route_values(
    carrier: Any, scan_prefix: str, domain: Any, rewrite_host: str, prob: Any = 1,
    strip: Any = 0, rewrite_prefix: str = "", rewrite_suffix: str = "", *, mask: Any = 0,
    flags: Any = 0, description: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    try:
        probability = float(prob)
    except (TypeError, ValueError):
        raise BadInput(f"prob must be a number from 0 to 1, not {prob!r}") from None
    if not 0 <= probability <= 1:
        raise BadInput(f"prob must be from 0 to 1, not {probability}")
    if scan_prefix and not scan_prefix.isdigit():
        # Kamailio's default match_mode 10 keeps digits only: such a row fails its load
        raise BadInput(f"scan_prefix {scan_prefix!r} is not digits")
    return {
        "carrier": _id(carrier, "carrier id"),
        "domain": _id(domain, "domain id"),
        "scan_prefix": validate.text(scan_prefix or "", "scan_prefix", max_len=64),
        "flags": _id(flags, "flags"),
        "mask": _id(mask, "mask"),
        "prob": probability,
        "strip": _id(strip, "strip"),
        "rewrite_host": validate.text(rewrite_host or "", "rewrite_host", max_len=255),
        "rewrite_prefix": validate.text(rewrite_prefix or "", "rewrite_prefix", max_len=64),
        "rewrite_suffix": validate.text(rewrite_suffix or "", "rewrite_suffix", max_len=64),
        "description": validate.text(description, "comment", max_len=255) if description else None,
    }


def route_add(db: peewee.Database, *args: Any, **kwargs: Any) -> Change:
    """Add a route (kamctl cr addcarrier)."""
    values = route_values(*args, **kwargs)
    _require_names(values["carrier"], values["domain"])
    R = models.Carrierroute
    same = (R.carrier == values["carrier"]) & (R.domain == values["domain"])
    with reading("carrierroute"):
        if R.select(R.id).where(same & (R.scan_prefix == values["scan_prefix"])
                                & (R.rewrite_host == values["rewrite_host"])).exists():  # fmt: skip
            raise AlreadyExists("this carrier, domain, prefix and host have a route already")
        live = R.select(R.id).where(same & (R.prob > 0)).exists()
    if values["prob"] == 0 and not live:
        raise BadInput(
            "every route of this carrier and domain would have probability 0, "
            "which Kamailio refuses to load"
        )
    with transaction(db, "carrierroute"):
        new_id = R.insert(**values).execute()
    return Change(
        "carrierroute", "added", [{"id": new_id, **values}], 1,
        f"route {new_id}: carrier {values['carrier']} domain {values['domain']} prefix "
        f"'{values['scan_prefix']}' -> '{values['rewrite_host']}'",
    )  # fmt: skip


def route_remove(db: peewee.Database, carrier: Any, scan_prefix: str, domain: Any) -> Change:
    """Remove the routes of a carrier, prefix and domain (kamctl cr rmcarrier)."""
    R = models.Carrierroute
    where = ((R.carrier == _id(carrier, "carrier id")) & (R.scan_prefix == scan_prefix)
             & (R.domain == _id(domain, "domain id")))  # fmt: skip
    with transaction(db, "carrierroute"):
        rows = [_row(r, ROUTE_COLUMNS) for r in R.select().where(where)]
        if rows:
            R.delete().where(where).execute()
    if not rows:
        raise NotFound(f"no route of carrier {carrier}, prefix '{scan_prefix}', domain {domain}")
    return Change("carrierroute", "removed", rows, len(rows), f"{len(rows)} route(s) removed")


def route_show(db: peewee.Database) -> list[dict[str, Any]]:
    R = models.Carrierroute
    with reading("carrierroute"):
        query = R.select().order_by(R.carrier, R.domain, R.scan_prefix, R.id)
        return [_row(r, ROUTE_COLUMNS) for r in query]


# ----------------------------------------------------------------------------- failure routes


def failure_add(
    db: peewee.Database, carrier: Any, domain: Any, scan_prefix: str, host_name: str,
    reply_code: str, next_domain: Any, *, flags: Any = 0, mask: Any = 0,
    description: str | None = None,
) -> Change:  # fmt: skip
    """Add a failure route: a reply ``reply_code`` (digits, '.' any) from ``host_name``
    continues routing in ``next_domain``."""
    code = str(reply_code).strip()
    if scan_prefix and not scan_prefix.isdigit():
        raise BadInput(f"scan_prefix {scan_prefix!r} is not digits")
    if not _REPLY_CODE.match(code):  # Kamailio refuses to load an empty one
        raise BadInput(f"reply_code {reply_code!r} is not three digits or dots (e.g. 5.., 408)")
    values = {
        "carrier": _id(carrier, "carrier id"), "domain": _id(domain, "domain id"),
        "scan_prefix": validate.text(scan_prefix or "", "scan_prefix", max_len=64),
        "host_name": validate.text(host_name or "", "host_name", max_len=255),
        "reply_code": code, "flags": _id(flags, "flags"), "mask": _id(mask, "mask"),
        "next_domain": _id(next_domain, "next domain id"),
        "description": validate.text(description, "comment", max_len=255) if description else None,
    }  # fmt: skip
    _require_names(values["carrier"], values["domain"], values["next_domain"])
    F = models.Carrierfailureroute
    with transaction(db, "carrierfailureroute"):
        new_id = F.insert(**values).execute()
    return Change(
        "carrierroute", "added", [{"id": new_id, **values}], 1,
        f"failure route {new_id}: {code} from '{values['host_name']}' -> domain "
        f"{values['next_domain']}",
    )  # fmt: skip


def failure_remove(db: peewee.Database, number: Any) -> Change:
    F = models.Carrierfailureroute
    n = _id(number, "failure route id")
    with transaction(db, "carrierfailureroute"):
        rows = [_row(r, FAILURE_COLUMNS) for r in F.select().where(F.id == n)]
        if rows:
            F.delete().where(F.id == n).execute()
    if not rows:
        raise NotFound(f"no failure route {n}")
    return Change("carrierroute", "removed", rows, 1, f"failure route {n} removed")


def failure_show(db: peewee.Database) -> list[dict[str, Any]]:
    F = models.Carrierfailureroute
    with reading("carrierfailureroute"):
        query = F.select().order_by(F.carrier, F.domain, F.scan_prefix, F.id)
        return [_row(r, FAILURE_COLUMNS) for r in query]


# ----------------------------------------------------------------------------- offline


def select(
    db: peewee.Database,
    carrier: str,
    domain: str,
    number: str,
    hash_value: str,
    *,
    user: str | None = None,
    flags: Any = 0,
) -> dict[str, Any]:
    """``cr_route`` offline (CRC32 algorithm): the request URI for ``number`` (the user
    rewritten is ``user``, default ``number``), ``hash_value`` being the text of the hash
    source, e.g. the Call-ID. NotFound when nothing routes, as cr_route fails."""
    from kamtool.core.carrierroute_engine import CarrierRoute, CarrierRouteError

    try:
        data = CarrierRoute.from_rows(
            [{"id": r["id"], "carrier": r["carrier"]} for r in name_show(db, "carrier")],
            [{"id": r["id"], "domain": r["domain"]} for r in name_show(db, "domain")],
            route_show(db),
        )
        routed = data.route(carrier, domain, number, number if user is None else user,
                            hash_value, flags=_id(flags, "flags"))  # fmt: skip
    except CarrierRouteError as exc:
        raise BadInput(str(exc)) from None
    if routed is None:
        raise NotFound(f"no route for {number!r} in carrier {carrier}, domain {domain}")
    r = routed.route
    return {"uri": routed.uri, "route_id": r.id, "rewrite_host": r.rewrite_host,
            "scan_prefix": r.scan_prefix, "prob": r.prob}  # fmt: skip


def next_domain(
    db: peewee.Database,
    carrier: str,
    domain: str,
    number: str,
    host: str,
    reply_code: str,
    *,
    flags: Any = 0,
) -> dict[str, Any]:
    """``cr_next_domain`` offline: the domain a failed call continues in."""
    from kamtool.core.carrierroute_engine import CarrierRoute, CarrierRouteError

    try:
        data = CarrierRoute.from_rows(
            [{"id": r["id"], "carrier": r["carrier"]} for r in name_show(db, "carrier")],
            [{"id": r["id"], "domain": r["domain"]} for r in name_show(db, "domain")],
            [],
            failure_show(db),
        )
        rule = data.next_domain(
            carrier, domain, number, host, reply_code, flags=_id(flags, "flags")
        )
    except CarrierRouteError as exc:
        raise BadInput(str(exc)) from None
    if rule is None:
        raise NotFound(f"no failure route for {number!r}, {host!r}, {reply_code}")
    names = {r["id"]: r["domain"] for r in name_show(db, "domain")}
    return {"next_domain": rule.next_domain, "domain_name": names.get(rule.next_domain),
            "failure_route_id": rule.id}  # fmt: skip
