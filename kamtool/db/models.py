"""Peewee models of Kamailio 5.6's tables, built from ``kamtool.db.schema``.

One class per table, named after it in CamelCase (``subscriber`` -> ``Subscriber``,
``dialog_vars`` -> ``DialogVars``); field names are the column names. ``MODELS`` maps
table names to classes, ``GROUPS`` kamdbctl group names to table names.

The module-level models are bound to :data:`database_proxy`; use
``kamtool.db.connect.connected(url)`` to point them at a database. Code that needs two
databases at once (``dbctl copy``) builds separate sets with :func:`build_models`.

Tables are created with ``kamtool.db.ddl`` (Kamailio's exact DDL per engine), not with
peewee's ``create_table``, which knows neither Kamailio's types nor its index names.
"""

from __future__ import annotations

from typing import Any, ClassVar

import peewee

from kamtool.db import schema
from kamtool.db.fields import BytesField, KamailioDateTimeField, parse_datetime_text

database_proxy = peewee.DatabaseProxy()


class KamailioModel(peewee.Model):
    """Base of every table model; ``spec`` is the table's schema description."""

    spec: ClassVar[schema.Table]

    class Meta:
        database = database_proxy


def class_name(table: str) -> str:
    """The model class name of a table: CamelCase of its name."""
    return "".join(part.capitalize() for part in table.split("_"))


def _default(col: schema.Column) -> Any:
    if not col.has_default or col.default is None:
        return None
    if col.type == "datetime":
        return parse_datetime_text(col.default)
    return col.default


def make_field(col: schema.Column) -> peewee.Field:
    """The peewee field for one column (NULL-ability and default from the schema)."""
    if col.autoincrement:
        return peewee.AutoField(column_name=col.name)
    kw: dict[str, Any] = {"null": col.null, "column_name": col.name}
    default = _default(col)
    if default is not None:
        kw["default"] = default
    t = col.type
    if t == "string":
        return peewee.CharField(max_length=col.size, **kw)
    if t in ("text", "largetext"):
        return peewee.TextField(**kw)
    if t in ("int", "unsigned int"):
        return peewee.IntegerField(**kw)
    if t in ("short", "unsigned short"):
        return peewee.SmallIntegerField(**kw)
    if t == "float":
        return peewee.FloatField(**kw)
    if t == "datetime":
        return KamailioDateTimeField(**kw)
    if t in ("binary", "largebinary"):
        return BytesField(**kw)
    raise ValueError(f"unknown column type {t!r} of {col.name}")


def make_model(table: schema.Table, database: Any = None) -> type[KamailioModel]:
    """A model class for ``table``, bound to ``database`` (default: the shared proxy)."""
    meta_attrs: dict[str, Any] = {"table_name": table.name}
    if database is not None:
        meta_attrs["database"] = database
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "spec": table,
        "Meta": type("Meta", (), meta_attrs),
    }
    for col in table.columns:
        attrs[col.name] = make_field(col)
    return type(class_name(table.name), (KamailioModel,), attrs)


def build_models(database: Any = None) -> dict[str, type[KamailioModel]]:
    """A fresh set of all table models (``table_name -> class``) bound to ``database``."""
    return {name: make_model(t, database) for name, t in schema.tables().items()}


#: table name -> model class, for every table of the standard, presence and extra groups.
MODELS: dict[str, type[KamailioModel]] = build_models()
#: kamdbctl group -> its table names, in kamdbctl's creation order.
GROUPS: dict[str, list[str]] = {
    g: [t.name for t in schema.tables_in([g])] for g in schema.GROUP_NAMES
}

# Explicit names so that `from kamtool.db.models import Subscriber` reads (and greps) well.
Version = MODELS["version"]
Acc = MODELS["acc"]
AccCdrs = MODELS["acc_cdrs"]
MissedCalls = MODELS["missed_calls"]
LcrGw = MODELS["lcr_gw"]
LcrRuleTarget = MODELS["lcr_rule_target"]
LcrRule = MODELS["lcr_rule"]
Domain = MODELS["domain"]
DomainAttrs = MODELS["domain_attrs"]
Grp = MODELS["grp"]
ReGrp = MODELS["re_grp"]
Trusted = MODELS["trusted"]
Address = MODELS["address"]
Aliases = MODELS["aliases"]
Location = MODELS["location"]
LocationAttrs = MODELS["location_attrs"]
Silo = MODELS["silo"]
Dbaliases = MODELS["dbaliases"]
Uri = MODELS["uri"]
SpeedDial = MODELS["speed_dial"]
UsrPreferences = MODELS["usr_preferences"]
Subscriber = MODELS["subscriber"]
Pdt = MODELS["pdt"]
Dialog = MODELS["dialog"]
DialogVars = MODELS["dialog_vars"]
Dispatcher = MODELS["dispatcher"]
Dialplan = MODELS["dialplan"]
ToposD = MODELS["topos_d"]
ToposT = MODELS["topos_t"]
Presentity = MODELS["presentity"]
ActiveWatchers = MODELS["active_watchers"]
Watchers = MODELS["watchers"]
Xcap = MODELS["xcap"]
Pua = MODELS["pua"]
RlsPresentity = MODELS["rls_presentity"]
RlsWatchers = MODELS["rls_watchers"]
ImcRooms = MODELS["imc_rooms"]
ImcMembers = MODELS["imc_members"]
Cpl = MODELS["cpl"]
SipTrace = MODELS["sip_trace"]
Domainpolicy = MODELS["domainpolicy"]
Carrierroute = MODELS["carrierroute"]
Carrierfailureroute = MODELS["carrierfailureroute"]
CarrierName = MODELS["carrier_name"]
DomainName = MODELS["domain_name"]
DrGateways = MODELS["dr_gateways"]
DrRules = MODELS["dr_rules"]
DrGwLists = MODELS["dr_gw_lists"]
DrGroups = MODELS["dr_groups"]
Userblocklist = MODELS["userblocklist"]
Globalblocklist = MODELS["globalblocklist"]
Htable = MODELS["htable"]
Purplemap = MODELS["purplemap"]
Uacreg = MODELS["uacreg"]
PlPipes = MODELS["pl_pipes"]
Mtree = MODELS["mtree"]
Mtrees = MODELS["mtrees"]
ScaSubscriptions = MODELS["sca_subscriptions"]
Mohqcalls = MODELS["mohqcalls"]
Mohqueues = MODELS["mohqueues"]
Rtpproxy = MODELS["rtpproxy"]
Rtpengine = MODELS["rtpengine"]
Secfilter = MODELS["secfilter"]
