"""Finding the server to talk to when no endpoint is configured.

A running ``kamtool serve`` records its JSON-RPC endpoints in a small JSON file in
kamtool's runtime directory (``$XDG_RUNTIME_DIR/kamtool``, ``/run/kamtool`` as root,
else ``/tmp/kamtool-<uid>``): ``serve-<pid>.json``. A client with no ``--rpc``,
``KAMTOOL_RPC_URL`` or configured URL tries, in order:

1. the endpoints of every live recorded ``kamtool serve``: first those serving the
   database the client uses (a record names its server's database, without credentials:
   :func:`kamtool.db.url.db_identity`), so that an edit reloads the server that reads it
   when several run on one host; then the others, newest first (the record of a process
   that is gone is ignored and removed). A record lists only the endpoints its server
   bound (the FIFO and socket stay with the first server of a runtime directory);
2. kamtool's default HTTP endpoint, ``http://127.0.0.1:5071/RPC``;
3. Kamailio's usual endpoints: the FIFO kamctl uses (``/run/kamailio/kamailio_rpc.fifo``,
   or ``/var/run/...`` where that is another file) and the datagram socket kamcli uses
   (``/run/kamailio/kamailio_rpc.sock``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_HTTP_URL = "http://127.0.0.1:5071/RPC"
KAMAILIO_FIFOS = ("/run/kamailio/kamailio_rpc.fifo", "/var/run/kamailio/kamailio_rpc.fifo")
KAMAILIO_SOCKETS = ("/run/kamailio/kamailio_rpc.sock",)
RECORD_PREFIX = "serve-"
FIFO_NAME = "kamtool_rpc.fifo"  # kamtool serve's endpoints in its runtime directory
SOCKET_NAME = "kamtool_rpc.sock"


def default_runtime_dir() -> Path:
    """``$XDG_RUNTIME_DIR/kamtool``, ``/run/kamtool`` as root, else ``/tmp/kamtool-<uid>``."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "kamtool"
    if os.geteuid() == 0:
        return Path("/run/kamtool")
    return Path(f"/tmp/kamtool-{os.geteuid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _trusted(path: Path) -> bool:
    """True when ``path`` is ours and nobody else may write it: a record planted by
    another user (in a shared /tmp) must not send our requests, or our token, elsewhere."""
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def write_record(
    urls: list[str],
    directory: Path | None = None,
    pid: int | None = None,
    db: str | None = None,
) -> Path:
    """Record ``urls`` as the endpoints of process ``pid`` (default: this one), serving
    database ``db`` (a :func:`~kamtool.db.url.db_identity`; None: not said)."""
    directory = directory or default_runtime_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    pid = os.getpid() if pid is None else pid
    path = directory / f"{RECORD_PREFIX}{pid}.json"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"pid": pid, "endpoints": urls, "db": db}, fh)
    os.replace(tmp, path)  # readers never see half a record
    return path


def update_record(path: Path, urls: list[str]) -> None:
    """Replace the endpoints of the record at ``path`` (once the server bound them)."""
    try:
        doc = json.loads(path.read_text())
        write_record(urls, path.parent, pid=int(doc["pid"]), db=doc.get("db"))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # the runtime directory went away: nothing to correct


def recorded_endpoints(directory: Path | None = None, db: str | None = None) -> list[str]:
    """The endpoints of every live recorded ``kamtool serve``: those of servers of
    database ``db`` first, then servers that did not say, then the others; newest first
    within each."""
    directory = directory or default_runtime_dir()
    if not _trusted(directory):
        return []
    try:
        records = sorted(
            directory.glob(f"{RECORD_PREFIX}*.json"),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
    except OSError:
        return []
    found: list[tuple[int, list[str]]] = []
    for path in records:
        if not _trusted(path):
            continue
        try:
            doc = json.loads(path.read_text())
            pid, endpoints = int(doc["pid"]), [str(u) for u in doc["endpoints"]]
            served = doc.get("db")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # being written, or not ours: skip it
        if not _alive(pid):
            path.unlink(missing_ok=True)
            continue
        rank = 1 if db is None or served is None else (0 if served == db else 2)
        found.append((rank, endpoints))
    urls: list[str] = []
    for _, endpoints in sorted(found, key=lambda f: f[0]):  # stable: newest first in a rank
        urls += [u for u in endpoints if u not in urls]
    return urls


def candidates(db: str | None = None) -> list[str]:
    """Every endpoint to try, in order (see the module doc); ``db``: the database the
    client uses (:func:`~kamtool.db.url.db_identity`)."""
    urls = recorded_endpoints(db=db)
    urls += [DEFAULT_HTTP_URL]
    seen: set[str] = set()
    for path in KAMAILIO_FIFOS:
        real = os.path.realpath(path)
        if path != KAMAILIO_FIFOS[0] and (real in seen or not os.path.exists(path)):
            continue  # /var/run is /run on today's systems
        seen.add(real)
        urls.append(f"fifo:{path}")
    urls += [f"unix:{p}" for p in KAMAILIO_SOCKETS]
    return list(dict.fromkeys(urls))


def server_urls(host: str, port: int, runtime_dir: str | Path | None = None) -> list[str]:
    """The endpoints a ``kamtool serve`` with these RPC settings offers, HTTP first.

    A wildcard address is reached on loopback; port 0 (any) cannot be recorded.
    """
    directory = Path(runtime_dir) if runtime_dir else default_runtime_dir()
    urls = [http_url(host, port)] if port else []
    return urls + [f"fifo:{directory / FIFO_NAME}", f"unix:{directory / SOCKET_NAME}"]


def http_url(host: str, port: int) -> str:
    """The URL a client reaches an HTTP server listening on ``host``:``port`` at (a
    wildcard address on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}/RPC" if ":" in host else f"http://{host}:{port}/RPC"


@contextmanager
def serving(
    urls: list[str], directory: Path | None = None, db: str | None = None
) -> Iterator[Path | None]:
    """Record ``urls`` (of a server of database ``db``) while the block runs (a server's
    lifetime); remove the record after.

    Nothing is recorded (and nothing fails) when the runtime directory is not writable.
    """
    try:
        path: Path | None = write_record(urls, directory, db=db) if urls else None
    except OSError:
        path = None
    try:
        yield path
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
