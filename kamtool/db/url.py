"""Database URLs, parsed without loading any database module (the CLI reads them on
every command): :class:`DbUrl`, :func:`parse_url` (also :mod:`kamtool.db.connect`'s),
and :func:`db_identity`, which database a URL names."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from kamtool.config import redact_url
from kamtool.errors import BadInput

__all__ = ["DbUrl", "db_identity", "parse_url"]

# the default port of each server engine (an identity names it)
DEFAULT_PORTS = {"mysql": 3306, "postgres": 5432}


@dataclass(frozen=True)
class DbUrl:
    """A parsed database URL. ``path`` is set for SQLite, the rest for servers."""

    engine: str  # sqlite | mysql | postgres
    url: str
    path: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def redacted(self) -> str:
        """The URL without its password, safe to print."""
        return redact_url(self.url)


def parse_url(url: str) -> DbUrl:
    """Parse a database URL or an SQLite path (see the module docstring)."""
    if not url or not url.strip():
        raise BadInput("empty database URL")
    url = url.strip()
    if "://" not in url:
        return DbUrl("sqlite", url, path=url)
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("sqlite", "sqlite3"):
        rest = url.split("://", 1)[1].split("?", 1)[0]
        # db_sqlite drops the "/" that follows "sqlite://": sqlite:///rel, sqlite:////abs
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise BadInput(f"no file name in database URL {url!r}")
        return DbUrl("sqlite", url, path=path)
    engines = {"mysql": "mysql", "mariadb": "mysql", "postgres": "postgres"}
    engines["postgresql"] = "postgres"
    if scheme not in engines:
        raise BadInput(
            f"unsupported database URL scheme {scheme!r}",
            hint="use sqlite:///path, mysql://user:pw@host/db or postgres://user:pw@host/db",
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadInput(f"invalid database URL {redact_url(url)}: {exc}") from exc
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise BadInput(f"no database name in URL {redact_url(url)}")
    return DbUrl(
        engines[scheme],
        url,
        host=parts.hostname or "localhost",
        port=port,
        user=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        database=name,
        options=dict(parse_qsl(parts.query)),
    )


def db_identity(url: str) -> str | None:
    """Which database ``url`` names, without credentials, so that two spellings of one
    database compare equal (an SQLite file by its real path; a server database by engine,
    host, port and name, loopback names as one); None when ``url`` cannot be read."""
    try:
        u = parse_url(url)
    except BadInput:
        return None
    if u.engine == "sqlite":
        return f"sqlite:{os.path.realpath(u.path or '')}"
    host = (u.host or "localhost").lower()
    host = "127.0.0.1" if host in ("localhost", "::1") else host
    return f"{u.engine}://{host}:{u.port or DEFAULT_PORTS[u.engine]}/{u.database}"
