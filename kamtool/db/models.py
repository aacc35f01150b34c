"""Peewee models of Kamailio 5.6's tables, built from ``kamtool.db.schema``.

One class per table, named after it in CamelCase (``subscriber`` -> ``Subscriber``,
``dialog_vars`` -> ``DialogVars``); field names are the column names. ``MODELS`` maps
table names to classes, ``GROUPS`` kamdbctl group names to table names.

The module-level models (built lazily, on first use) are bound to :data:`database_proxy`; use
``kamtool.db.connect.connected(url)`` to point them at a database. Code that needs two
databases at once (``dbctl copy``) builds separate sets with :func:`build_models`.

Tables are created with ``kamtool.db.ddl`` (Kamailio's exact DDL per engine), not with
peewee's ``create_table``, which knows neither Kamailio's types nor its index names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from kamtool.db import schema
from kamtool.db.fields import BytesField, KamailioDateTimeField, parse_datetime_text
from kamtool.db.orm import peewee

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


class _LazyModels(Mapping[str, type[KamailioModel]]):
    """``table_name -> model``, each class built on first use (a CLI command touches a
    few tables; building all 63 would cost start-up time)."""

    def __init__(self) -> None:
        self._built: dict[str, type[KamailioModel]] = {}

    def __getitem__(self, table: str) -> type[KamailioModel]:
        model = self._built.get(table)
        if model is None:
            model = self._built[table] = make_model(schema.table(table))
        return model

    def __iter__(self) -> Iterator[str]:
        return iter(schema.table_names())

    def __len__(self) -> int:
        return len(schema.table_names())


#: table name -> model class, for every table of the standard, presence and extra groups.
MODELS: Mapping[str, type[KamailioModel]] = _LazyModels()
#: kamdbctl group -> its table names, in kamdbctl's creation order.
GROUPS: dict[str, list[str]] = {g: schema.table_names([g]) for g in schema.GROUP_NAMES}
_TABLE_OF_CLASS = {class_name(t): t for t in schema.table_names()}


def __getattr__(name: str) -> type[KamailioModel]:
    """``from kamtool.db.models import Subscriber``: the model, built on first use."""
    table = _TABLE_OF_CLASS.get(name)
    if table is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return MODELS[table]


def __dir__() -> list[str]:
    return sorted([*globals(), *_TABLE_OF_CLASS])


if TYPE_CHECKING:  # the names __getattr__ provides, for readers, greps and type checkers
    Version: type[KamailioModel]
    Acc: type[KamailioModel]
    AccCdrs: type[KamailioModel]
    MissedCalls: type[KamailioModel]
    LcrGw: type[KamailioModel]
    LcrRuleTarget: type[KamailioModel]
    LcrRule: type[KamailioModel]
    Domain: type[KamailioModel]
    DomainAttrs: type[KamailioModel]
    Grp: type[KamailioModel]
    ReGrp: type[KamailioModel]
    Trusted: type[KamailioModel]
    Address: type[KamailioModel]
    Aliases: type[KamailioModel]
    Location: type[KamailioModel]
    LocationAttrs: type[KamailioModel]
    Silo: type[KamailioModel]
    Dbaliases: type[KamailioModel]
    Uri: type[KamailioModel]
    SpeedDial: type[KamailioModel]
    UsrPreferences: type[KamailioModel]
    Subscriber: type[KamailioModel]
    Pdt: type[KamailioModel]
    Dialog: type[KamailioModel]
    DialogVars: type[KamailioModel]
    Dispatcher: type[KamailioModel]
    Dialplan: type[KamailioModel]
    ToposD: type[KamailioModel]
    ToposT: type[KamailioModel]
    Presentity: type[KamailioModel]
    ActiveWatchers: type[KamailioModel]
    Watchers: type[KamailioModel]
    Xcap: type[KamailioModel]
    Pua: type[KamailioModel]
    RlsPresentity: type[KamailioModel]
    RlsWatchers: type[KamailioModel]
    ImcRooms: type[KamailioModel]
    ImcMembers: type[KamailioModel]
    Cpl: type[KamailioModel]
    SipTrace: type[KamailioModel]
    Domainpolicy: type[KamailioModel]
    Carrierroute: type[KamailioModel]
    Carrierfailureroute: type[KamailioModel]
    CarrierName: type[KamailioModel]
    DomainName: type[KamailioModel]
    DrGateways: type[KamailioModel]
    DrRules: type[KamailioModel]
    DrGwLists: type[KamailioModel]
    DrGroups: type[KamailioModel]
    Userblocklist: type[KamailioModel]
    Globalblocklist: type[KamailioModel]
    Htable: type[KamailioModel]
    Purplemap: type[KamailioModel]
    Uacreg: type[KamailioModel]
    PlPipes: type[KamailioModel]
    Mtree: type[KamailioModel]
    Mtrees: type[KamailioModel]
    ScaSubscriptions: type[KamailioModel]
    Mohqcalls: type[KamailioModel]
    Mohqueues: type[KamailioModel]
    Rtpproxy: type[KamailioModel]
    Rtpengine: type[KamailioModel]
    Secfilter: type[KamailioModel]
