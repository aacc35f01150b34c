"""Settings: one frozen object built from every configuration source.

Precedence, lowest first (later sources override earlier ones):

1. built-in defaults (SQLite file in the user's data directory, RPC auto-detection);
2. a kamctlrc: ``/etc/kamailio/kamctlrc`` when present, or the file given with
   ``--kamctlrc`` (DBENGINE, DBHOST, DBPORT, DBNAME, DBRWUSER, DBRWPW, DB_PATH,
   SIP_DOMAIN, STORE_PLAINTEXT_PW);
3. kamtool's TOML file: ``--config FILE`` (or ``$KAMTOOL_CONFIG``) when given, otherwise
   ``/etc/kamtool/kamtool.toml`` and then the user's ``kamtool.toml`` in the user config
   directory (the user file wins);
4. ``KAMTOOL_*`` environment variables;
5. command-line flags.

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
    [proxy]      # read by kamtool.proxy (see `kamtool serve --help`)
    [monitor]    # read by kamtool.tui
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from kamtool.errors import ConfigError

APP_NAME = "kamtool"
SYSTEM_CONFIG = Path("/etc/kamtool/kamtool.toml")
SYSTEM_KAMCTLRC = Path("/etc/kamailio/kamctlrc")


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
    # Raw sections for the subsystems that own them ([proxy], [monitor], ...).
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Where each value came from, for `kamtool config` style diagnostics.
    origins: Mapping[str, str] = field(default_factory=dict)

    def section(self, name: str) -> Mapping[str, Any]:
        """A raw TOML section, empty when absent."""
        return self.sections.get(name, {})

    @property
    def effective_db_url(self) -> str:
        """The database URL, or the default SQLite file when none is configured."""
        return self.db_url or "sqlite:///" + str(default_db_path())


# --------------------------------------------------------------------------- kamctlrc

_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def parse_kamctlrc(text: str) -> dict[str, str]:
    """Read ``NAME=value`` assignments from a kamctlrc (a shell fragment).

    Only plain assignments are understood; quoting follows the shell, comments are
    dropped and anything else (functions, conditionals) is ignored.
    """
    import shlex  # here, like tomllib below: most runs read neither file

    values: dict[str, str] = {}
    for line in text.splitlines():
        m = _ASSIGN.match(line)
        if not m:
            continue
        name, raw = m.groups()
        try:
            words = shlex.split(raw, comments=True)
        except ValueError:
            continue
        values[name] = words[0] if words else ""
    return values


def kamctlrc_settings(values: Mapping[str, str]) -> dict[str, Any]:
    """Map kamctlrc variables to Settings fields (db URL, SIP domain, plain-text storage)."""
    out: dict[str, Any] = {}
    engine = values.get("DBENGINE", "").strip().upper()
    if engine in ("MYSQL", "PGSQL", "POSTGRES", "POSTGRESQL"):
        scheme = "mysql" if engine == "MYSQL" else "postgres"
        user = quote(values.get("DBRWUSER", "kamailio"), safe="")
        pw = quote(values.get("DBRWPW", "kamailiorw"), safe="")
        host = values.get("DBHOST", "localhost") or "localhost"
        port = values.get("DBPORT", "")
        name = values.get("DBNAME", "kamailio") or "kamailio"
        netloc = f"{user}:{pw}@{host}" + (f":{port}" if port else "")
        out["db_url"] = f"{scheme}://{netloc}/{name}"
    elif engine == "SQLITE":
        path = values.get("DB_PATH", "")
        if path:
            out["db_url"] = "sqlite:///" + path if path.startswith("/") else path
    if values.get("SIP_DOMAIN"):
        out["sip_domain"] = values["SIP_DOMAIN"]
    if "STORE_PLAINTEXT_PW" in values:
        out["store_plaintext_pw"] = values["STORE_PLAINTEXT_PW"].strip() not in ("0", "")
    return out


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
}


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
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from all sources in the documented order.

    ``overrides`` holds command-line flags; ``None`` values are ignored.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    sections: dict[str, dict[str, Any]] = {}

    def apply(layer: Mapping[str, Any], origin: str) -> None:
        for key, value in layer.items():
            if value is not None:
                values[key] = value
                origins[key] = origin

    rc = Path(kamctlrc) if kamctlrc else (SYSTEM_KAMCTLRC if SYSTEM_KAMCTLRC.is_file() else None)
    if rc is not None:
        try:
            text = rc.read_text(errors="replace")
        except OSError as exc:
            raise ConfigError(f"cannot read kamctlrc {rc}: {exc.strerror}") from exc
        apply(kamctlrc_settings(parse_kamctlrc(text)), str(rc))

    config_file = config_file or env.get("KAMTOOL_CONFIG") or None
    if config_file:
        files = [Path(config_file)]
    else:
        files = [p for p in (SYSTEM_CONFIG, user_config_file()) if p.is_file()]
    for path in files:
        doc = _read_toml(path)
        apply(toml_settings(doc), str(path))
        for name, section in doc.items():
            if isinstance(section, dict):
                sections.setdefault(name, {}).update(section)

    apply(env_settings(env), "environment")
    apply(dict(overrides or {}), "command line")
    return Settings(**values, sections=sections, origins=origins)


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
