"""The lcr module's tables: gateways (``lcr_gw``), rules (``lcr_rule``) and the targets that
join them (``lcr_rule_target``). kamctl 5.6 disables its ``lcr`` commands; kamtool writes
the rows the module loads, checked as it checks them (one bad row makes Kamailio's whole
``lcr.reload`` fail). Removing a gateway or a rule also removes its targets. ``select``
runs ``load_gws`` offline (:mod:`kamtool.core.lcr_engine`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from kamtool.core import csvrows, validate
from kamtool.core.lcr_engine import SCHEMES, TRANSPORTS, Lcr, LcrError, compile_pattern
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound

GW_COLUMNS = ("lcr_id", "gw_name", "ip_addr", "hostname", "port", "params", "uri_scheme",
              "transport", "strip", "prefix", "tag", "flags")  # fmt: skip
RULE_COLUMNS = ("lcr_id", "prefix", "from_uri", "request_uri", "mt_tvalue", "stopper", "enabled")
TARGET_COLUMNS = ("rule_id", "gw_id", "priority", "weight")


def _row(r: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    return {"id": r.id, **{c: getattr(r, c) for c in columns}}


def _opt(value: Any) -> Any:
    return None if value in (None, "") else value


def _choice(value: Any, names: dict[int, str], what: str) -> int | None:
    if _opt(value) is None:
        return None
    text = str(value).strip().lower()
    for number, name in names.items():
        if text in (name, str(number)):
            return number
    raise BadInput(f"{what} {value!r} is not one of {', '.join(names.values())}")


def lcr_id(value: Any) -> int:
    return validate.integer(value, "lcr_id", minimum=1, maximum=65535)


# ----------------------------------------------------------------------------- gateways


def gw_values(
    lcr: Any, gw_name: str | None = None, ip_addr: str | None = None,
    hostname: str | None = None, port: Any = None, params: str | None = None,
    uri_scheme: Any = None, transport: Any = None, strip: Any = None,
    prefix: str | None = None, tag: str | None = None, flags: Any = 0,
) -> dict[str, Any]:  # fmt: skip
    """Checked ``lcr_gw`` values."""
    values: dict[str, Any] = {
        "lcr_id": lcr_id(lcr),
        "gw_name": validate.text(gw_name, "gw_name", max_len=128) if _opt(gw_name) else None,
        "ip_addr": str(validate.ip_address(ip_addr)) if _opt(ip_addr) else None,
        "hostname": validate.domain_name(hostname, "hostname", new=True)
        if _opt(hostname)
        else None,
        "port": validate.port(port) if _opt(port) is not None else None,
        "params": validate.text(params, "params", max_len=64) if _opt(params) else None,
        "uri_scheme": _choice(uri_scheme, SCHEMES, "uri_scheme"),
        "transport": _choice(transport, TRANSPORTS, "transport"),
        "strip": validate.integer(strip, "strip", minimum=0, maximum=255)
        if _opt(strip) is not None
        else None,
        "prefix": validate.text(prefix, "prefix", max_len=16) if _opt(prefix) else None,
        "tag": validate.text(tag, "tag", max_len=64) if _opt(tag) else None,
        "flags": validate.integer(flags if _opt(flags) is not None else 0, "flags", minimum=0),
    }
    if not values["ip_addr"] and not values["hostname"]:
        raise BadInput("a gateway needs an IP address or a host name")
    if values["params"] and not values["params"].startswith(";"):
        raise BadInput("params are URI parameters: they start with ';'")
    if values["uri_scheme"] == 2 and values["transport"] == 1:
        raise BadInput("a sips gateway cannot use UDP (Kamailio refuses the row)")
    return values


def gw_add(db: peewee.Database, *args: Any, **kwargs: Any) -> Change:
    values = gw_values(*args, **kwargs)
    G = models.LcrGw
    with transaction(db, "lcr_gw"):
        new_id = G.insert(**values).execute()
    where = values["hostname"] or values["ip_addr"]
    return Change(
        "lcr", "added", [{"id": new_id, **values}], 1,
        f"gateway {new_id} ({where}) added to lcr {values['lcr_id']}",
    )  # fmt: skip


def _remove_with_targets(
    db: peewee.Database, model: Any, columns: tuple[str, ...], what: str, key: Any
) -> Change:
    """Delete the ``model`` row ``key`` (a gateway or a rule) and the targets naming it."""
    number = validate.integer(key, f"{what} id", minimum=0)
    T = models.LcrRuleTarget
    link = T.gw_id if model is models.LcrGw else T.rule_id
    with transaction(db, model._meta.table_name):
        rows = [_row(r, columns) for r in model.select().where(model.id == number)]
        if rows:
            targets = T.delete().where(link == number).execute()
            model.delete().where(model.id == number).execute()
    if not rows:
        raise NotFound(f"no {what} {number}")
    return Change("lcr", "removed", rows, 1, f"{what} {number} removed with {targets} target(s)")


def gw_remove(db: peewee.Database, gw_id: Any) -> Change:
    """Delete a gateway and the targets that use it."""
    return _remove_with_targets(db, models.LcrGw, GW_COLUMNS, "gateway", gw_id)


def gw_show(db: peewee.Database, lcr: Any = None) -> list[dict[str, Any]]:
    G = models.LcrGw
    query = G.select().order_by(G.lcr_id, G.id)
    if lcr is not None:
        query = query.where(G.lcr_id == lcr_id(lcr))
    with reading("lcr_gw"):
        return [_row(r, GW_COLUMNS) for r in query]


# ----------------------------------------------------------------------------- rules


def rule_values(
    lcr: Any, prefix: str | None = None, from_uri: str | None = None,
    request_uri: str | None = None, mt_tvalue: str | None = None, stopper: Any = 0,
    enabled: Any = 1,
) -> dict[str, Any]:  # fmt: skip
    """Checked ``lcr_rule`` values (patterns compiled as Kamailio compiles them)."""
    values = {
        "lcr_id": lcr_id(lcr),
        "prefix": validate.text(prefix, "prefix", max_len=16) if _opt(prefix) else None,
        "from_uri": validate.text(from_uri, "from_uri", max_len=64) if _opt(from_uri) else None,
        "request_uri": validate.text(request_uri, "request_uri", max_len=64)
        if _opt(request_uri)
        else None,
        "mt_tvalue": validate.text(mt_tvalue, "mt_tvalue", max_len=128)
        if _opt(mt_tvalue)
        else None,
        "stopper": validate.integer(stopper if _opt(stopper) is not None else 0, "stopper",
                                    minimum=0, maximum=1),
        "enabled": validate.integer(enabled if _opt(enabled) is not None else 1, "enabled",
                                    minimum=0, maximum=1),
    }  # fmt: skip
    try:
        compile_pattern(values["from_uri"], "from_uri")
        compile_pattern(values["request_uri"], "request_uri")
    except LcrError as exc:
        raise BadInput(str(exc)) from None
    return values


def _same(column: Any, value: Any) -> Any:
    return column.is_null() if value is None else column == value


def rule_add(db: peewee.Database, *args: Any, **kwargs: Any) -> Change:
    """Insert a rule; (lcr_id, prefix, from_uri) is unique."""
    values = rule_values(*args, **kwargs)
    R = models.LcrRule
    with reading("lcr_rule"):
        dup = R.select(R.id).where(
            (R.lcr_id == values["lcr_id"]) & _same(R.prefix, values["prefix"])
            & _same(R.from_uri, values["from_uri"])
        )  # fmt: skip
        if dup.exists():
            raise AlreadyExists("a rule with this lcr_id, prefix and from_uri exists already")
    with transaction(db, "lcr_rule"):
        new_id = R.insert(**values).execute()
    return Change(
        "lcr", "added", [{"id": new_id, **values}], 1,
        f"rule {new_id} (prefix '{values['prefix'] or ''}') added to lcr {values['lcr_id']}",
    )  # fmt: skip


def rule_remove(db: peewee.Database, rule_id: Any) -> Change:
    """Delete a rule and its targets."""
    return _remove_with_targets(db, models.LcrRule, RULE_COLUMNS, "rule", rule_id)


def rule_show(db: peewee.Database, lcr: Any = None) -> list[dict[str, Any]]:
    R = models.LcrRule
    query = R.select().order_by(R.lcr_id, R.prefix, R.id)
    if lcr is not None:
        query = query.where(R.lcr_id == lcr_id(lcr))
    with reading("lcr_rule"):
        return [_row(r, RULE_COLUMNS) for r in query]


# ----------------------------------------------------------------------------- targets


def target_values(rule_id: Any, gw_id: Any, priority: Any, weight: Any = 1) -> dict[str, Any]:
    """Checked ``lcr_rule_target`` values; the rule and gateway must exist in one lcr_id."""
    rid = validate.integer(rule_id, "rule id", minimum=0)
    gid = validate.integer(gw_id, "gateway id", minimum=0)
    values = {
        "rule_id": rid, "gw_id": gid,
        "priority": validate.integer(priority, "priority", minimum=0, maximum=255),
        "weight": validate.integer(weight if _opt(weight) is not None else 1, "weight",
                                   minimum=1, maximum=254),
    }  # fmt: skip
    R, G = models.LcrRule, models.LcrGw
    with reading("lcr_rule"):
        rule = R.select(R.lcr_id).where(R.id == rid).first()
        gw = G.select(G.lcr_id).where(G.id == gid).first()
    if rule is None:
        raise NotFound(f"no rule {rid}")
    if gw is None:
        raise NotFound(f"no gateway {gid}")
    if rule.lcr_id != gw.lcr_id:
        raise BadInput(f"rule {rid} is in lcr {rule.lcr_id}, gateway {gid} in lcr {gw.lcr_id}")
    return {"lcr_id": rule.lcr_id, **values}


def target_add(db: peewee.Database, *args: Any) -> Change:
    values = target_values(*args)
    T = models.LcrRuleTarget
    with reading("lcr_rule_target"):
        dup = T.select(T.id).where((T.rule_id == values["rule_id"]) & (T.gw_id == values["gw_id"]))
        if dup.exists():
            raise AlreadyExists(f"rule {values['rule_id']} has gateway {values['gw_id']} already")
    with transaction(db, "lcr_rule_target"):
        new_id = T.insert(**values).execute()
    return Change(
        "lcr", "added", [{"id": new_id, **values}], 1,
        f"rule {values['rule_id']} -> gateway {values['gw_id']} (priority {values['priority']}, "
        f"weight {values['weight']})",
    )  # fmt: skip


def target_remove(db: peewee.Database, rule_id: Any, gw_id: Any) -> Change:
    T = models.LcrRuleTarget
    where = (T.rule_id == validate.integer(rule_id, "rule id", minimum=0)) & (
        T.gw_id == validate.integer(gw_id, "gateway id", minimum=0)
    )
    with transaction(db, "lcr_rule_target"):
        rows = [_row(r, ("lcr_id", *TARGET_COLUMNS)) for r in T.select().where(where)]
        if rows:
            T.delete().where(where).execute()
    if not rows:
        raise NotFound(f"rule {rule_id} has no gateway {gw_id}")
    return Change("lcr", "removed", rows, len(rows), f"target {rule_id} -> {gw_id} removed")


def target_show(db: peewee.Database, lcr: Any = None) -> list[dict[str, Any]]:
    T = models.LcrRuleTarget
    query = T.select().order_by(T.lcr_id, T.rule_id, T.priority, T.id)
    if lcr is not None:
        query = query.where(T.lcr_id == lcr_id(lcr))
    with reading("lcr_rule_target"):
        return [_row(r, ("lcr_id", *TARGET_COLUMNS)) for r in query]


# ----------------------------------------------------------------------------- offline


def rules_in_load_order(model: Any, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """The ``lcr_rule`` rows of ``model`` (bound to a database) in the order Kamailio's
    lcr module reads them: one query per lcr_id, ``WHERE lcr_id = N`` and no ORDER BY,
    so in the database's own order (SQLite and MySQL walk the unique key: by prefix,
    then from_uri, NULL first; PostgreSQL mostly the order the rows were written in).

    The order is not cosmetic: rules of one prefix are tried in reverse of it, which
    decides where a ``stopper`` ends the search. The same query here gets the same order
    from the same database.
    """
    ids = sorted({r.lcr_id for r in model.select(model.lcr_id).distinct()})
    out: list[dict[str, Any]] = []
    for lcr_id in ids:
        query = model.select().where(model.lcr_id == lcr_id)
        out += [{c: getattr(r, c) for c in columns} for r in query]
    return out


def load(db: peewee.Database) -> Lcr:
    """The tables as the module loads them."""
    G, R, T = models.LcrGw, models.LcrRule, models.LcrRuleTarget
    with reading("lcr_gw"):
        gws = [_row(r, (*GW_COLUMNS, "defunct")) for r in G.select()]
        rules = rules_in_load_order(R, ("id", *RULE_COLUMNS))
        targets = [_row(r, ("lcr_id", *TARGET_COLUMNS)) for r in T.select()]
    try:
        return Lcr.from_rows(gws, rules, targets)
    except LcrError as exc:
        raise BadInput(f"the lcr tables would not load in Kamailio: {exc}") from None


def gw_public(gw: Any) -> dict[str, Any]:
    return {"gw_id": gw.id, "gw_name": gw.gw_name, "uri": gw.uri, "tag": gw.tag,
            "strip": gw.strip, "prefix": gw.prefix, "flags": gw.flags}  # fmt: skip


def select(
    db: peewee.Database,
    lcr: Any,
    uri_user: str,
    from_uri: str = "",
    request_uri: str = "",
    *,
    mtree: str | None = None,
    char_list: str | None = None,
) -> list[dict[str, Any]]:
    """``lcr.load_gws`` offline: the gateways in the order Kamailio would try them (ties
    of priority are broken by weighted chance, as in Kamailio). ``mtree`` names the tree
    (lcr's ``mtree`` modparam) whose values of the From user ``mt_tvalue`` rules need."""
    import time

    mt_values: Any = None
    if mtree:
        from kamtool.core import mtree as mtrees

        trees = mtrees.load(db, char_list or mtrees.DEFAULT_CHAR_LIST)

        def mt_values(user: str) -> list[str]:
            return [m.value for m in trees.match_all(mtree, user)]

    try:
        chosen = load(db).select(
            lcr_id(lcr), uri_user, from_uri, request_uri, now=time.time(), mt_values=mt_values
        )
    except LcrError as exc:
        raise BadInput(str(exc)) from None
    rows = []
    for s in chosen:
        try:
            ruri, dst = s.gateway.next_hop(uri_user)
        except LcrError:  # strip longer than the user: Kamailio's next_gw fails on it
            ruri, dst = None, None
        rows.append({**gw_public(s.gateway), "rule_id": s.rule_id, "priority": s.priority,
                     "ruri": ruri, "dst_uri": dst})  # fmt: skip
    return rows


# ----------------------------------------------------------------------------- CSV


def _cells(cells: Mapping[str, str], columns: tuple[str, ...]) -> dict[str, Any]:
    """The cells as keyword arguments of gw_values / rule_values (lcr_id is ``lcr``)."""
    kwargs: dict[str, Any] = {k: cells.get(k) for k in columns if k in cells}
    kwargs["lcr"] = kwargs.pop("lcr_id", None)
    return kwargs


def _gw_cells(cells: Mapping[str, str]) -> dict[str, Any]:
    return gw_values(**_cells(cells, GW_COLUMNS))


def _rule_cells(cells: Mapping[str, str]) -> dict[str, Any]:
    return rule_values(**_cells(cells, RULE_COLUMNS))


def import_csv(db: peewee.Database, stream: TextIO, table: str) -> Change:
    """Add gateways (``gw``) or rules (``rule``) from CSV, all or nothing; targets
    (``target``) name rule and gateway ids that must exist."""
    if table == "gw":
        entries = csvrows.read(stream, GW_COLUMNS, ("lcr_id",), _gw_cells)
        model, name = models.LcrGw, "lcr_gw"
    elif table == "rule":
        entries = csvrows.read(stream, RULE_COLUMNS, ("lcr_id",), _rule_cells)
        model, name = models.LcrRule, "lcr_rule"
    elif table == "target":
        entries = csvrows.read(
            stream, TARGET_COLUMNS, ("rule_id", "gw_id", "priority"),
            lambda c: target_values(c.get("rule_id"), c.get("gw_id"), c.get("priority"),
                                    c.get("weight")),
        )  # fmt: skip
        model, name = models.LcrRuleTarget, "lcr_rule_target"
    else:
        raise BadInput(f"unknown lcr table {table!r}: gw, rule or target")
    rows = [values for _, values in entries]
    csvrows.insert(db, model, rows, name)
    return Change("lcr", "imported", rows, len(rows), f"{len(rows)} {name} rows imported")
