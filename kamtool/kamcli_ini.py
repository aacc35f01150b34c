"""kamcli.ini: kamcli's configuration, read as kamcli reads it.

kamcli loads, in this order, ``./kamcli/kamcli.ini``, ``./kamcli.ini``,
``/etc/kamcli/kamcli.ini`` and ``~/.kamcli/kamcli.ini`` (those that exist), then its
``--config FILE`` (kamtool's ``--kamcli-ini FILE``), into one ``configparser`` with its
``%(name)s`` interpolation: a later file overrides an earlier one key by key. (So
``/etc/kamcli`` overrides the current directory's file: kamcli's order, kept.)

What kamtool takes from it:

* ``[db] rwurl`` (an SQLAlchemy URL such as ``mysql+mysqldb://kamailio:pw@host/kamailio``)
  as the database URL;
* ``[main] domain`` as the default SIP domain;
* ``[jsonrpc]`` ``transport`` = ``fifo`` (``path``, reply FIFOs in ``rpldir``) or
  ``socket`` (``srvaddr``: a unix datagram socket path or ``udp:IP:PORT``) as the RPC
  endpoint. ``rplnamebase`` is read but kamtool names its reply FIFO itself: a fixed name
  lets two runs (or another user) collide, so each call gets a private random one;
* ``[cmdaliases]`` (plus kamcli's built-in ``acl``, ``rpc``, ``subs``, ``sht``) where the
  command they name has a kamtool counterpart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kamtool.errors import ConfigError

if TYPE_CHECKING:
    import configparser

SYSTEM_FILE = Path("/etc/kamcli/kamcli.ini")

_SAME_NAME = (
    "uacreg",
    "dialplan",
    "mtree",
    "speeddial",
    "avp",
    "srv",
    "shv",
    "tcp",
    "tls",
    "pipelimit",
    "sipreq",
    "trap",
    "pstrap",
    "db",
    "shell",
    "tm",
    "online",
    "trusted",
)
# kamcli command -> kamtool command (None: kamtool has no such command)
KAMCLI_COMMANDS: dict[str, str | None] = {
    "group": "acl",
    "subscriber": "subscriber",
    "jsonrpc": "rpc",
    "htable": "htable",
    "dispatcher": "dispatcher",
    "domain": "domain",
    "address": "address",
    "aliasdb": "alias",
    "ul": "ul",
    "dialog": "dlg",
    "dlgs": "dlg",
    "stats": "stats",
    "uptime": "uptime",
    "ps": "ps",
    "ping": "ping",
    "pike": "pike",
    "acc": "acc",
    # kamcli commands with a kamtool twin of the same name
    **{name: name for name in _SAME_NAME},
}
BUILTIN_ALIASES = {"acl": "group", "rpc": "jsonrpc", "subs": "subscriber", "sht": "htable"}


def candidate_files(
    home: str | None, extra: Path | None = None, system_file: Path = SYSTEM_FILE
) -> list[Path]:
    """kamcli's default files in its order, then ``extra``."""
    files = [Path("kamcli/kamcli.ini"), Path("kamcli.ini"), system_file]
    files.append(Path(home) / ".kamcli" / "kamcli.ini" if home else Path("~/.kamcli/kamcli.ini"))
    if extra is not None:
        files.append(Path(extra))
    return files


@dataclass
class KamcliConfig:
    """The merged kamcli.ini files and the kamtool settings they give."""

    settings: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> kamtool command
    warnings: list[str] = field(default_factory=list)


def load(
    home: str | None, extra: Path | None = None, system_file: Path = SYSTEM_FILE
) -> KamcliConfig:
    """Read kamcli's files (see the module doc); map them to kamtool settings."""
    out = KamcliConfig()
    paths = [p for p in candidate_files(home, extra, system_file) if p == extra or p.is_file()]
    if not paths:
        return out
    import configparser  # here: most runs have no kamcli.ini

    parser = configparser.ConfigParser()
    where: dict[tuple[str, str], str] = {}  # (section, key) -> the file that set it last
    for path in paths:
        one = configparser.ConfigParser(interpolation=None)
        try:
            with path.open(encoding="utf-8", errors="replace") as fh:
                one.read_file(fh, source=str(path))
        except OSError as exc:
            raise ConfigError(f"cannot read kamcli.ini {path}: {exc.strerror}") from exc
        except configparser.Error as exc:
            raise ConfigError(f"invalid kamcli.ini {path}: {exc}") from exc
        for section in one.sections():
            if not parser.has_section(section):
                parser.add_section(section)
            for key, value in one.items(section, raw=True):
                try:
                    parser.set(section, key, value)
                except ValueError as exc:  # a lone '%': configparser's syntax, as in kamcli
                    raise ConfigError(f"invalid {path} [{section}] {key}: {exc}") from exc
                where[(section, key)] = str(path.absolute())
        out.files.append(str(path.absolute()))
    if not out.files:
        return out

    def get(section: str, key: str) -> str | None:
        if not parser.has_option(section, key):
            return None
        try:
            return parser.get(section, key).strip()
        except configparser.Error as exc:  # a bad %(name)s reference
            raise ConfigError(f"kamcli.ini [{section}] {key}: {exc}") from exc

    def put(name: str, value: Any, *keys: tuple[str, str]) -> None:
        out.settings[name] = value
        out.origins[name] = ", ".join(sorted({where[k] for k in keys if k in where}))

    rwurl = get("db", "rwurl")
    if rwurl:
        put("db_url", sqlalchemy_url(rwurl), ("db", "rwurl"))
    domain = get("main", "domain")
    if domain:
        put("sip_domain", domain, ("main", "domain"))
    rpc = _rpc_url(get, out.warnings)
    if rpc:
        keys = [("jsonrpc", k) for k in ("transport", "path", "srvaddr", "rpldir")]
        put("rpc_url", rpc, *keys)
    out.aliases = _aliases(parser)
    return out


def sqlalchemy_url(url: str) -> str:
    """An SQLAlchemy URL (``dialect+driver://...``) in kamtool's form."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"kamcli.ini [db] rwurl {url!r} is not a URL")
    dialect = scheme.split("+", 1)[0].lower()
    mapped = {"mysql": "mysql", "mariadb": "mysql", "postgresql": "postgres",
              "postgres": "postgres", "sqlite": "sqlite"}.get(dialect)  # fmt: skip
    if mapped is None:
        raise ConfigError(
            f"kamcli.ini [db] rwurl: database type {dialect!r} is not supported",
            hint="kamtool speaks to MySQL/MariaDB, PostgreSQL and SQLite",
        )
    return f"{mapped}://{rest}"


def _rpc_url(get: Any, warnings: list[str]) -> str | None:
    transport = (get("jsonrpc", "transport") or "").lower()
    if transport == "fifo":
        path = get("jsonrpc", "path")
        if not path:
            return None
        rpldir = get("jsonrpc", "rpldir")
        return f"fifo:{path}" + (f"?reply_dir={rpldir}" if rpldir and rpldir != "/tmp" else "")
    if transport == "socket":
        addr = get("jsonrpc", "srvaddr")
        if not addr:
            return None
        if addr.startswith(("udp:", "tcp:")):
            return addr  # tcp: is refused with an explanation when used
        return f"unix:{addr}"
    if transport:
        warnings.append(f"kamcli.ini [jsonrpc] transport={transport!r} is not fifo or socket")
    return None


def _aliases(parser: configparser.ConfigParser) -> dict[str, str]:
    aliases = dict(BUILTIN_ALIASES)
    if parser.has_section("cmdaliases"):
        aliases.update({k: v.strip() for k, v in parser.items("cmdaliases", raw=True)})
    out: dict[str, str] = {}
    for alias, target in aliases.items():
        mapped = KAMCLI_COMMANDS.get(target)
        if mapped is not None:
            out[alias] = mapped
    return out
