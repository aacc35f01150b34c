"""Kamailio 5.6's database, engine-neutral (SQLite, MySQL/MariaDB, PostgreSQL).

* :mod:`kamtool.db.schema` - the one schema source (``schema/kamailio-5.6.json``, shipped
  as ``kamtool/db/kamailio-5.6.json``): 63 tables of kamdbctl's standard, presence and
  extra groups with columns, keys, indexes and version numbers.
* :mod:`kamtool.db.models` - Peewee models from it (``Subscriber``, ``Location``, ...,
  ``MODELS``, ``GROUPS``); :mod:`kamtool.db.fields` - the DATETIME field that stores what
  Kamailio reads on each engine.
* :mod:`kamtool.db.orm` - peewee itself, imported without the MySQL/PostgreSQL drivers
  until a server URL needs one (every module takes ``peewee`` from there).
* :mod:`kamtool.db.connect` - URLs -> databases (``open_database``, ``connected``),
  schema checks; :mod:`kamtool.db.ddl` - Kamailio-exact DDL per engine.
* :mod:`kamtool.db.server` (databases and users), :mod:`kamtool.db.transfer` (backup
  format, row copying), :mod:`kamtool.db.migrate` (version upgrades) - used by
  :mod:`kamtool.core.dbctl`.
"""
