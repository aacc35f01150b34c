"""Settings: one frozen object built from every configuration source.

Precedence, lowest first (later sources override earlier ones):

1. built-in defaults (SQLite file in the user's data directory, RPC auto-detection);
2. kamctlrc (:mod:`kamtool.kamctlrc`): kamctl's defaults, the environment variables of
   kamctl's names (``DBENGINE`` ...), then ``/etc/kamailio/kamctlrc``,
   ``/usr/local/etc/kamailio/kamctlrc``, ``~/.kamctlrc`` and ``--kamctlrc FILE``
   (a file overrides the environment, as when kamctl sources it);
3. kamcli.ini (:mod:`kamtool.kamcli_ini`): kamcli's files in kamcli's order, then
   ``--kamcli-ini FILE``;
4. kamtool's TOML file: ``--config FILE`` (or ``$KAMTOOL_CONFIG``) when given, otherwise
   ``/etc/kamtool/kamtool.toml`` and then the user's ``kamtool.toml`` in the user config
   directory (the user file wins); then the ``[instance.NAME]`` section chosen with
   ``-i NAME`` (or ``$KAMTOOL_INSTANCE``);
5. ``KAMTOOL_*`` environment variables;
6. command-line flags.

The TOML layout::

    [db]
    url = "mysql://kamailio:kamailiorw@127.0.0.1/kamailio"
    [sip]
    domain = "example.com"
    store_plaintext_pw = true
    [rpc]
    url = "http://127.0.0.1:5071/RPC"
    timeout = 5.0
    token = "..."
    [acl]
    verify = true                 # kamctl's VERIFY_ACL
    groups = ["local", "ld"]      # kamctl's ACL_GROUPS
    verify_user = true            # kamctl's VERIFY_USER
    [instance.edge1]              # kamtool -i edge1 ...
    db_url = "mysql://..."
    rpc_url = "http://10.0.0.1:5071/RPC"
    domain = "edge1.example.com"
    [proxy]      # read by kamtool.proxy (see `kamtool serve --help`)
    [monitor]    # read by kamtool.tui
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kamtool import kamcli_ini
from kamtool import kamctlrc as rc
from kamtool.errors import ConfigError

APP_NAME = "kamtool"
SYSTEM_CONFIG = Path("/etc/kamtool/kamtool.toml")
SYSTEM_KAMCTLRC = rc.SYSTEM_FILES[0]
LOCAL_KAMCTLRC = rc.SYSTEM_FILES[1]
SYSTEM_KAMCLI_INI = kamcli_ini.SYSTEM_FILE
KAMCTL_ACL_GROUPS = tuple(rc.VARIABLES["ACL_GROUPS"].split())


def user_config_file() -> Path:
    """The per-user TOML file (``~/.config/kamtool/kamtool.toml`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME)) / "kamtool.toml"


def default_db_path() -> Path:
    """The SQLite file used when nothing is configured (created on first use)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME)) / "kamailio.sqlite"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, after all sources were merged."""

    db_url: str = ""
    sip_domain: str | None = None
    store_plaintext_pw: bool = True
    rpc_url: str | None = None  # None: try kamtool's proxy, then Kamailio's FIFO
    rpc_timeout: float = 5.0
    rpc_token: str | None = None
    json: bool = False
    instance: str | None = None  # the [instance.NAME] in use
    # kamctl's rules (on when a kamctlrc is read, as kamctl has them on by default)
    verify_acl: bool = False
    acl_groups: tuple[str, ...] = KAMCTL_ACL_GROUPS
    verify_user: bool = False
    username_re: str | None = None  # None: kamtool's own user name check
    ha1_algorithm: str = "MD5"  # kamctl's MD5 program: md5sum, sha256sum ...
    aliases_type: str | None = None  # kamctl's ALIASES_TYPE: DB (dbaliases) or UL
    install_extra_tables: bool | None = None  # None: kamtool's default (all groups)
    install_presence_tables: bool | None = None
    watch_period: float = 2.0  # seconds between refreshes of watching commands
    db_ro_url: str | None = None
    db_root_url: str | None = None
    kamctl_db_users: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # dbctl
    # kamcli command aliases that name a kamtool command: alias -> command
    command_aliases: Mapping[str, str] = field(default_factory=dict)
    # Raw sections for the subsystems that own them ([proxy], [monitor], ...).
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Where each value came from, for `kamtool config` style diagnostics.
    origins: Mapping[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()  # every configuration file read
    shadowed: Mapping[str, Any] = field(default_factory=dict)  # what the instance replaced
    warnings: tuple[str, ...] = ()  # lines of those files kamtool did not take
    # kamctlrc's DBENGINE when it names an engine kamtool cannot use (DBTEXT, ORACLE ...)
    unsupported_db_engine: str = ""

    def section(self, name: str) -> Mapping[str, Any]:
        """A raw TOML section, empty when absent."""
        return self.sections.get(name, {})

    @property
    def effective_db_url(self) -> str:
        """The database URL, or the default SQLite file when none is configured.

        A kamctlrc whose DBENGINE kamtool cannot use (DBTEXT, ORACLE ...) and no URL from
        another source raise :class:`ConfigError`: the default SQLite file would answer
        "no subscribers" about a database that is somewhere else.
        """
        if not self.db_url and self.unsupported_db_engine:
            engine = self.unsupported_db_engine
            raise ConfigError(
                f"kamctlrc DBENGINE={engine}: kamtool works with MYSQL, PGSQL and SQLITE "
                f"databases, not {engine}",
                hint="give the database with --db URL (or KAMTOOL_DB_URL, [db] url in "
                "kamtool.toml)",
            )
        return self.db_url or "sqlite:///" + str(default_db_path())


# --------------------------------------------------------------------------- kamctlrc

parse_kamctlrc = rc.parse


def kamctlrc_settings(values: Mapping[str, str] | rc.KamctlVars) -> dict[str, Any]:
    """Settings fields from kamctlrc variables (a parsed file, or a loaded set)."""
    if not isinstance(values, rc.KamctlVars):
        values = rc.KamctlVars(values=dict(values), origins=dict.fromkeys(values, "kamctlrc"))
    layer, _ = rc.settings_layer(values)
    rc.pop_warnings(layer)
    return layer


# --------------------------------------------------------------------------- TOML


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from exc


def toml_settings(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Map a kamtool.toml document to Settings fields."""
    out: dict[str, Any] = {}
    db, sip, rpc = doc.get("db", {}), doc.get("sip", {}), doc.get("rpc", {})
    if "url" in db:
        out["db_url"] = str(db["url"])
    if "domain" in sip:
        out["sip_domain"] = str(sip["domain"])
    if "store_plaintext_pw" in sip:
        out["store_plaintext_pw"] = bool(sip["store_plaintext_pw"])
    if "url" in rpc:
        out["rpc_url"] = str(rpc["url"])
    if "timeout" in rpc:
        out["rpc_timeout"] = float(rpc["timeout"])
    if "token" in rpc:
        out["rpc_token"] = str(rpc["token"])
    acl = doc.get("acl", {})
    if "verify" in acl:
        out["verify_acl"] = bool(acl["verify"])
    if "groups" in acl:
        groups = acl["groups"]
        out["acl_groups"] = tuple(groups.split() if isinstance(groups, str) else map(str, groups))
    if "verify_user" in acl:
        out["verify_user"] = bool(acl["verify_user"])
    return out


# keys of an [instance.NAME] section -> Settings fields
INSTANCE_KEYS = {
    "db_url": ("db_url", str),
    "rpc_url": ("rpc_url", str),
    "domain": ("sip_domain", str),
    "rpc_token": ("rpc_token", str),
    "rpc_timeout": ("rpc_timeout", float),
}


def instances(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The ``[instance.NAME]`` sections of a TOML document."""
    section = doc.get("instance", {})
    if not isinstance(section, Mapping):
        raise ConfigError("[instance] must hold [instance.NAME] tables")
    return {name: body for name, body in section.items() if isinstance(body, Mapping)}


def instance_settings(name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Map one ``[instance.NAME]`` section to Settings fields."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key not in INSTANCE_KEYS:
            raise ConfigError(
                f"[instance.{name}]: unknown key {key!r}",
                hint="keys are: " + ", ".join(INSTANCE_KEYS),
            )
        field_name, conv = INSTANCE_KEYS[key]
        try:
            out[field_name] = conv(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[instance.{name}] {key}: invalid value {value!r}") from exc
    return out


# --------------------------------------------------------------------------- env

_TRUE = {"1", "true", "yes", "on"}
_ENV = {
    "KAMTOOL_DB_URL": ("db_url", str),
    "KAMTOOL_SIP_DOMAIN": ("sip_domain", str),
    "KAMTOOL_STORE_PLAINTEXT_PW": ("store_plaintext_pw", lambda v: v.lower() in _TRUE),
    "KAMTOOL_RPC_URL": ("rpc_url", str),
    "KAMTOOL_RPC_TIMEOUT": ("rpc_timeout", float),
    "KAMTOOL_RPC_TOKEN": ("rpc_token", str),
    "KAMTOOL_JSON": ("json", lambda v: v.lower() in _TRUE),
    "KAMTOOL_INSTANCE": ("instance", str),
}


_ENV_OF = {name: var for var, (name, _) in _ENV.items()}


def env_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Map ``KAMTOOL_*`` environment variables to Settings fields."""
    out: dict[str, Any] = {}
    for var, (name, conv) in _ENV.items():
        if env.get(var):
            try:
                out[name] = conv(env[var])
            except ValueError as exc:
                raise ConfigError(f"invalid value in ${var}") from exc
    return out


# --------------------------------------------------------------------------- loading


def load_settings(
    *,
    config_file: str | os.PathLike[str] | None = None,
    kamctlrc: str | os.PathLike[str] | None = None,
    kamcli_ini_file: str | os.PathLike[str] | None = None,
    instance: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from all sources in the documented order.

    ``overrides`` holds command-line flags; ``None`` values are ignored. ``instance``
    (or ``$KAMTOOL_INSTANCE``) picks an ``[instance.NAME]`` of the TOML files.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    sections: dict[str, dict[str, Any]] = {}
    files: list[str] = []
    warnings: list[str] = []

    def apply(layer: Mapping[str, Any], origin: str | Mapping[str, str]) -> None:
        for key, value in layer.items():
            if value is not None:
                values[key] = value
                origins[key] = origin if isinstance(origin, str) else origin[key]

    system = (SYSTEM_KAMCTLRC, LOCAL_KAMCTLRC)
    kv = rc.load(env, Path(kamctlrc) if kamctlrc else None, system)
    layer, layer_origins = rc.settings_layer(kv)
    warnings += kv.warnings + [f"kamctlrc: {w}" for w in rc.pop_warnings(layer)]
    apply(layer, layer_origins)
    files += kv.files

    ini = kamcli_ini.load(
        env.get("HOME"), Path(kamcli_ini_file) if kamcli_ini_file else None, SYSTEM_KAMCLI_INI
    )
    apply(ini.settings, {k: f"kamcli.ini: {v}" for k, v in ini.origins.items()})
    files += ini.files
    warnings += ini.warnings
    if ini.aliases:
        values["command_aliases"] = ini.aliases

    config_file = config_file or env.get("KAMTOOL_CONFIG") or None
    if config_file:
        paths = [Path(config_file)]
    else:
        paths = [p for p in (SYSTEM_CONFIG, user_config_file()) if p.is_file()]
    known: dict[str, tuple[Mapping[str, Any], str]] = {}
    for path in paths:
        doc = _read_toml(path)
        apply(toml_settings(doc), str(path))
        for name, body in instances(doc).items():
            known[name] = (body, str(path))
        for name, section in doc.items():
            if isinstance(section, dict):
                sections.setdefault(name, {}).update(section)
        files.append(str(path))

    flags = dict(overrides or {})
    instance = instance or flags.pop("instance", None) or env.get("KAMTOOL_INSTANCE") or None
    if instance:
        if instance not in known:
            raise ConfigError(
                f"no instance {instance!r} in the configuration",
                hint=("instances: " + ", ".join(sorted(known)))
                if known
                else "define it as [instance.NAME] in kamtool.toml",
            )
        body, path = known[instance]
        named = instance_settings(instance, body)
        shadowed = {k: values.get(k, getattr(_DEFAULTS, k)) for k in named}
        apply(named, f"instance {instance} ({path})")
        values["instance"] = instance
        values["shadowed"] = shadowed

    env_layer = env_settings(env)
    env_layer.pop("instance", None)
    apply(env_layer, {k: f"environment (${_ENV_OF[k]})" for k in env_layer})
    apply(flags, "command line")
    return Settings(
        **values, sections=sections, origins=origins, files=tuple(files), warnings=tuple(warnings)
    )


_DEFAULTS = Settings()


def instance_names(settings: Settings) -> list[str]:
    """The ``[instance.NAME]`` names of the TOML files read."""
    section = settings.section("instance")
    return sorted(k for k, v in section.items() if isinstance(v, Mapping))


def default_table_groups(settings: Settings) -> list[str] | None:
    """The schema groups ``dbctl create`` makes without ``--group``: kamdbctl's
    INSTALL_PRESENCE_TABLES / INSTALL_EXTRA_TABLES (``ask`` and unset: yes); None = all."""
    if settings.install_extra_tables is None and settings.install_presence_tables is None:
        return None
    groups = ["standard"]
    if settings.install_presence_tables is not False:
        groups.append("presence")
    if settings.install_extra_tables is not False:
        groups.append("extra")
    return groups


def kamctl_db_users(settings: Settings) -> dict[str, tuple[str, str]]:
    """kamdbctl's read-write and read-only users (DBRWUSER/DBRWPW, DBROUSER/DBROPW) when
    a kamctlrc names a database engine: ``{"rw": (user, password), "ro": ...}``."""
    return dict(settings.kamctl_db_users)


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with some fields replaced (``None`` ignored)."""
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to print or log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


# --------------------------------------------------------------------------- reporting

# the settings `kamtool config show` lists, in order, with what they mean
DESCRIPTIONS: dict[str, str] = {
    "db_url": "database (read-write)",
    "db_ro_url": "database (read-only user)",
    "db_root_url": "database server (admin user, dbctl)",
    "sip_domain": "default SIP domain",
    "store_plaintext_pw": "store plain-text passwords",
    "ha1_algorithm": "ha1/ha1b digest",
    "rpc_url": "JSON-RPC endpoint",
    "rpc_timeout": "JSON-RPC timeout (s)",
    "rpc_token": "JSON-RPC bearer token",
    "instance": "instance",
    "verify_acl": "check ACL group names",
    "acl_groups": "ACL group names",
    "verify_user": "check that users exist (acl)",
    "username_re": "user name pattern",
    "aliases_type": "aliases (DB or UL)",
    "install_extra_tables": "dbctl create: extra tables",
    "install_presence_tables": "dbctl create: presence tables",
    "watch_period": "refresh period of watching commands (s)",
    "command_aliases": "kamcli command aliases",
}
# (an RPC URL may carry user:password for HTTP Basic auth, as a DB URL does)
_SECRET_URLS = ("db_url", "db_ro_url", "db_root_url", "rpc_url")


def _shown(name: str, value: Any) -> Any:
    """``value`` safe to print: passwords and tokens masked."""
    if value is None:
        return None
    if name in _SECRET_URLS:
        return redact_url(str(value))
    if name == "rpc_token":
        return "***"
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def describe(settings: Settings) -> list[dict[str, Any]]:
    """Every reported setting: name, meaning, effective value (secrets masked), source."""
    names = {f.name for f in fields(Settings)}
    rows = []
    for name, meaning in DESCRIPTIONS.items():
        if name not in names:
            continue
        value = getattr(settings, name)
        if name == "db_url" and not value and settings.unsupported_db_engine:
            value = None
            origin = f"none: kamctlrc DBENGINE={settings.unsupported_db_engine} is not supported"
        elif name == "db_url" and not value:
            value, origin = settings.effective_db_url, "default"
        elif name == "rpc_url" and not value:
            value, origin = None, "default (found: a running kamtool serve, then the usual)"
        else:
            origin = settings.origins.get(name, "default")
        rows.append(
            {"setting": name, "meaning": meaning, "value": _shown(name, value), "source": origin}
        )
    return rows
