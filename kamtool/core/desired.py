"""Desired state: a TOML or YAML file that says what the provisioning tables should hold.

Each section is a list of entries; a section present in the file (even empty) is
*managed*: rows of its table that the file does not name are removed by ``apply``. A
section left out is not touched. ::

    [[subscribers]]                 # user, and password | password_env | ha1 (+ ha1b)
    user = "1001@example.com"       # no secret: the subscriber must exist, secret unmanaged
    password_env = "SIP_1001_PW"
    [[domains]]                     # domain, did
    [[aliases]]                     # alias, user
    [[acl]]                         # user, groups = [...]
    [[address]]                     # group, ip, mask (32), port (0), tag
    [[trusted]]                     # src_ip, proto, from_pattern, ruri_pattern, tag, priority
    [[dispatcher]]                  # set, uri, flags (0), priority (0), attrs, description
    [[dialplan]]                    # dpid, pr, match_op, match_exp, match_len, subst_exp,
                                    # repl_exp, attrs

Every kind becomes rows of its table (:data:`KINDS`): a key that names the row and the
values that must match. :func:`plan` compares them with the database.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kamtool.core.users import User, parse_user
from kamtool.errors import BadInput, ConfigError, NotFound

SECRET_COLUMNS = ("password", "ha1", "ha1b")


@dataclass(frozen=True)
class Kind:
    """One section of the file: its table, key columns and compared value columns."""

    section: str
    table: str
    key: tuple[str, ...]
    values: tuple[str, ...]
    reload: str | None = None  # RELOAD_METHODS name / RPC reload after a change
    nocase: tuple[str, ...] = ()  # key columns Kamailio compares without case


KINDS: dict[str, Kind] = {k.section: k for k in (
    Kind("domains", "domain", ("domain",), ("did",), reload="domain", nocase=("domain",)),
    Kind("subscribers", "subscriber", ("username", "domain"), SECRET_COLUMNS),
    Kind("aliases", "dbaliases", ("alias_username", "alias_domain"), ("username", "domain")),
    Kind("acl", "grp", ("username", "domain", "grp"), ()),
    Kind("address", "address", ("grp", "ip_addr", "mask", "port"), ("tag",), reload="address"),
    Kind("trusted", "trusted", ("src_ip", "proto", "from_pattern", "ruri_pattern"),
         ("tag", "priority"), reload="trusted"),
    Kind("dispatcher", "dispatcher", ("setid", "destination"),
         ("flags", "priority", "attrs", "description"), reload="dispatcher"),
    Kind("dialplan", "dialplan", ("dpid", "pr", "match_op", "match_exp"),
         ("match_len", "subst_exp", "repl_exp", "attrs"), reload="dialplan"),
)}  # fmt: skip


@dataclass
class Desired:
    """The rows a file asks for, per managed section (rows are column dicts)."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def managed(self) -> list[str]:
        return [s for s in KINDS if s in self.rows]


# --------------------------------------------------------------------------- reading


def load(path: Path, *, default_domain: str | None, settings: Any = None) -> Desired:
    """Read and check a desired-state file (``.toml``, ``.yaml``/``.yml``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"no file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return parse(text, yaml=path.suffix.lower() in (".yaml", ".yml"), where=str(path),
                 default_domain=default_domain, settings=settings)  # fmt: skip


def parse(text: str, *, yaml: bool, where: str, default_domain: str | None,
          settings: Any = None) -> Desired:  # fmt: skip
    """The :class:`Desired` of a document's text."""
    if yaml:
        import yaml as pyyaml

        try:
            doc = pyyaml.safe_load(text) or {}
        except pyyaml.YAMLError as exc:
            raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    else:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}: expected sections {', '.join(KINDS)}")
    unknown = [k for k in doc if k not in KINDS]
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(unknown)} "
                          f"(known: {', '.join(KINDS)})")  # fmt: skip
    desired = Desired()
    for section, entries in doc.items():
        if entries is None:
            entries = []
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise ConfigError(f"{where}: {section} must be a list of tables")
        rows: list[dict[str, Any]] = []
        for n, entry in enumerate(entries, 1):
            here = f"{where}: {section} #{n}"
            try:
                rows.extend(_ROW_MAKERS[section](dict(entry), default_domain, settings))
            except (BadInput, KeyError, TypeError, ValueError) as exc:
                msg = exc.message if isinstance(exc, BadInput) else f"missing or bad {exc}"
                raise ConfigError(f"{here}: {msg}") from None
        _no_duplicates(KINDS[section], rows, where)
        desired.rows[section] = rows
    return desired


def _no_duplicates(kind: Kind, rows: list[dict[str, Any]], where: str) -> None:
    seen: set[tuple[Any, ...]] = set()
    for row in rows:
        key = key_of(kind, row)
        if key in seen:
            raise ConfigError(f"{where}: {kind.section} names {describe(kind, row)} twice")
        seen.add(key)


def _take(entry: dict[str, Any], allowed: set[str], section: str) -> None:
    extra = set(entry) - allowed
    if extra:
        raise BadInput(f"unknown key(s) {', '.join(sorted(extra))} in {section}")


def _user(spec: Any, default_domain: str | None, what: str = "user") -> User:
    if not isinstance(spec, str):
        raise BadInput(f"{what} must be text")
    return parse_user(spec, default_domain, what=what)


def _subscriber(e: dict[str, Any], dd: str | None, settings: Any) -> list[dict[str, Any]]:
    _take(e, {"user", "password", "password_env", "ha1", "ha1b"}, "subscribers")
    user = _user(e["user"], dd)
    row: dict[str, Any] = {"username": user.username, "domain": user.domain}
    given = [k for k in ("password", "password_env", "ha1") if k in e]
    if len(given) > 1:
        raise BadInput(f"{user}: give one of password, password_env, ha1")
    password = e.get("password")
    if "password_env" in e:
        password = os.environ.get(str(e["password_env"]))
        if password is None:
            raise BadInput(f"{user}: environment variable {e['password_env']} is not set")
    if password is not None:
        from kamtool.core.users import credential_columns

        plain = getattr(settings, "store_plaintext_pw", True)
        algorithm = getattr(settings, "ha1_algorithm", "MD5")
        row.update(credential_columns(user, str(password), store_plaintext=plain,
                                      algorithm=algorithm))  # fmt: skip
    elif "ha1" in e:
        row.update(password="", ha1=str(e["ha1"]), ha1b=str(e.get("ha1b", "")))
    return [row]


def _domain(e: dict[str, Any], dd: str | None, settings: Any) -> list[dict[str, Any]]:
    _take(e, {"domain", "did"}, "domains")
    return [{"domain": str(e["domain"]), "did": None if e.get("did") is None else str(e["did"])}]


def _alias(e: dict[str, Any], dd: str | None, settings: Any) -> list[dict[str, Any]]:
    _take(e, {"alias", "user"}, "aliases")
    alias, user = _user(e["alias"], dd, "alias"), _user(e["user"], dd)
    return [{"alias_username": alias.username, "alias_domain": alias.domain,
             "username": user.username, "domain": user.domain}]  # fmt: skip


def _acl(e: dict[str, Any], dd: str | None, settings: Any) -> list[dict[str, Any]]:
    _take(e, {"user", "groups"}, "acl")
    user = _user(e["user"], dd)
    groups = e["groups"]
    if isinstance(groups, str) or not isinstance(groups, list):
        raise BadInput("groups must be a list of names")
    return [{"username": user.username, "domain": user.domain, "grp": str(g)} for g in groups]


def _address(e: dict[str, Any], dd: str | None, settings: Any) -> list[dict[str, Any]]:
    from kamtool.core.validate import ip_address

    _take(e, {"group", "ip", "mask", "port", "tag"}, "address")
    return [{"grp": int(e["group"]), "ip_addr": str(ip_address(str(e["ip"]))),
             "mask": int(e.get("mask", 32)), "port": int(e.get("port", 0)),
             "tag": _text_or_none(e.get("tag"))}]  # fmt: skip


def _trusted(e: dict[str, Any], dd: str | None, settings: Any) -> list[dict[str, Any]]:
    from kamtool.core.validate import posix_regex

    _take(e, {"src_ip", "proto", "from_pattern", "ruri_pattern", "tag", "priority"}, "trusted")
    patterns = {k: _text_or_none(e.get(k)) for k in ("from_pattern", "ruri_pattern")}
    for k, v in patterns.items():
        if v:
            posix_regex(v, k, max_len=64)
    return [{"src_ip": str(e["src_ip"]), "proto": str(e["proto"]), **patterns,
             "tag": _text_or_none(e.get("tag")),
             "priority": int(e.get("priority", 0))}]  # fmt: skip


def _dispatcher(e: dict[str, Any], dd: str | None, settings: Any) -> list[dict[str, Any]]:
    _take(e, {"set", "uri", "flags", "priority", "attrs", "description"}, "dispatcher")
    uri = str(e["uri"])
    if not uri.startswith(("sip:", "sips:")):
        raise BadInput(f"dispatcher uri {uri!r} is not a sip: or sips: URI")
    return [{"setid": int(e["set"]), "destination": uri, "flags": int(e.get("flags", 0)),
             "priority": int(e.get("priority", 0)), "attrs": str(e.get("attrs", "")),
             "description": str(e.get("description", ""))}]  # fmt: skip


def _dialplan(e: dict[str, Any], dd: str | None, settings: Any) -> list[dict[str, Any]]:
    from kamtool.core.dialplan import rule_values  # Kamailio's checks of a rule

    _take(e, {"dpid", "pr", "match_op", "match_exp", "match_len", "subst_exp", "repl_exp",
              "attrs"}, "dialplan")  # fmt: skip
    return [rule_values(e["dpid"], e.get("pr", 0), e.get("match_op", 1), str(e["match_exp"]),
                        e.get("match_len"), e.get("subst_exp"), e.get("repl_exp"),
                        e.get("attrs"))]  # fmt: skip


def _text_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


_ROW_MAKERS: dict[str, Callable[[dict[str, Any], str | None, Any], list[dict[str, Any]]]] = {
    "subscribers": _subscriber, "domains": _domain, "aliases": _alias, "acl": _acl,
    "address": _address, "trusted": _trusted, "dispatcher": _dispatcher, "dialplan": _dialplan,
}  # fmt: skip


# --------------------------------------------------------------------------- comparing


def key_of(kind: Kind, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(_norm(row.get(c), c in kind.nocase) for c in kind.key)


def _norm(value: Any, nocase: bool = False) -> Any:
    """Values as compared: NULL and '' alike, numbers as int, text stripped of nothing
    (``nocase``: lower-cased)."""
    if value is None or value == "":
        return None
    if nocase and isinstance(value, str):
        return value.lower()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def describe(kind: Kind, row: Mapping[str, Any]) -> str:
    """A row's name for people (never a secret)."""
    if kind.section in ("subscribers", "acl"):
        name = f"{row.get('username')}@{row.get('domain')}"
        return name + (f" in group {row.get('grp')}" if kind.section == "acl" else "")
    if kind.section == "aliases":
        return f"{row.get('alias_username')}@{row.get('alias_domain')}"
    return " ".join(f"{c}={row.get(c)}" for c in kind.key if row.get(c) not in (None, ""))


@dataclass
class Step:
    """One change to a table: ``add``, ``remove`` or ``update`` (the columns that differ)."""

    section: str
    action: str
    row: dict[str, Any]
    changed: list[str] = field(default_factory=list)
    row_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        kind = KINDS[self.section]
        out: dict[str, Any] = {"section": self.section, "table": kind.table,
                               "action": self.action, "what": describe(kind, self.row)}  # fmt: skip
        if self.changed:
            out["changed"] = self.changed
        return out


def diff(kind: Kind, wanted: list[dict[str, Any]], have: list[dict[str, Any]]) -> list[Step]:
    """What turns ``have`` (rows with ``id``) into ``wanted``. A subscriber entry without a
    secret leaves the secret columns alone."""
    current: dict[tuple[Any, ...], dict[str, Any]] = {}
    steps: list[Step] = []
    for row in have:
        key = key_of(kind, row)
        if key in current:  # a duplicate row in the table (no unique key): one too many
            steps.append(Step(kind.section, "remove", row, row_id=row.get("id")))
        else:
            current[key] = row
    for row in wanted:
        old = current.pop(key_of(kind, row), None)
        if old is None:
            steps.append(Step(kind.section, "add", row))
            continue
        changed = [c for c in kind.values if c in row and _norm(row[c]) != _norm(old.get(c))]
        if kind.section == "subscribers" and changed:
            changed = _secret_change(row, old)
        if changed:
            steps.append(Step(kind.section, "update", row, changed, old.get("id")))
    steps += [Step(kind.section, "remove", row, row_id=row.get("id")) for row in current.values()]
    return steps


def _secret_change(row: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    """A subscriber's secret differs when ha1 differs (the password column only matters
    when the file stores it); reported as "password", never with values."""
    if _norm(row.get("ha1")) != _norm(old.get("ha1")):
        return ["password"]
    if row.get("password") and row.get("password") != old.get("password"):
        return ["password"]
    return []
