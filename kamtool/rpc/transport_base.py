"""What the JSON-RPC client transports share: the :class:`Transport` protocol, the error of
an endpoint nobody listens at, deadlines, the limits of Kamailio's jsonrpcs, and whether
the server runs as our user (which decides the modes of our reply endpoints)."""

from __future__ import annotations

import os
import time
from typing import Any, Protocol

from kamtool.errors import OperationTimeout, RpcUnavailable

DEFAULT_FIFO_REPLY_DIR = "/tmp"
FIFO_MAX_REQUEST = 8191  # jsonrpcs' FIFO input buffer (8192 with the terminating NUL)
DGRAM_MAX_REQUEST = 65456  # jsonrpcs' datagram receive buffer
READ_CHUNK = 1 << 20  # FIFO reads and pipe size
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux): a bigger pipe means fewer wake-ups
RCVBUF = 8 << 20  # datagram receive buffer: room for big answers


class EndpointUnreachable(RpcUnavailable):
    """Nothing listens at the URL (refused, missing FIFO/socket): try another endpoint."""


class Transport(Protocol):
    url: str

    def exchange(self, request: dict[str, Any], deadline: float) -> bytes: ...

    def close(self) -> None: ...


def remaining(deadline: float) -> float:
    """Seconds left until ``deadline`` (a ``time.monotonic()`` value), never negative."""
    return max(0.0, deadline - time.monotonic())


def timeout_error(url: str, timeout_hint: str | None = None) -> OperationTimeout:
    """The error of a server at ``url`` that did not answer before the deadline."""
    return OperationTimeout(
        f"no reply from {url} in time",
        hint=timeout_hint
        or "the server may be overloaded or hung; if its answers are just slow, raise the "
        "timeout: KAMTOOL_RPC_TIMEOUT=30, or timeout under [rpc] in kamtool.toml",
        url=url,
    )


def peer_is_us(path: str) -> bool:
    """True when the server at ``path`` runs as our user (or we are root: then
    :func:`grant_to_server` hands our reply endpoints to the server's user)."""
    if os.geteuid() == 0:
        return True
    try:
        return os.stat(path).st_uid == os.geteuid()
    except OSError:
        return True


def _unix_socket_inode(path: str) -> str | None:
    """The inode of the unix socket bound at ``path`` (from /proc/net/unix)."""
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as fh:
            next(fh, None)  # header
            for line in fh:
                fields = line.split()
                if len(fields) >= 8 and fields[7] == path:
                    return fields[6]
    except OSError:
        return None
    return None


def server_owner(path: str) -> tuple[int, int] | None:
    """The (uid, gid) of a process that holds ``path`` open: the server reading its FIFO
    or bound to its socket. None when none is found (or /proc is not readable).

    Kamailio makes its FIFO and datagram socket before it drops root (``-u kamailio``, as
    Debian's service runs it), so their owner does not say as whom it answers.
    """
    real = os.path.realpath(path)
    inode = _unix_socket_inode(real)
    wanted = f"socket:[{inode}]" if inode else real
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") != wanted:
                    continue
                st = os.stat(f"/proc/{pid}")
            except OSError:
                continue
            return st.st_uid, st.st_gid
    return None


# server path -> (its inode, the owner found): a new FIFO/socket (a restart) looks again
_owners: dict[str, tuple[int, tuple[int, int]]] = {}


def _cached_server_owner(path: str) -> tuple[int, int] | None:
    try:
        inode = os.stat(path).st_ino
    except OSError:
        return None
    known = _owners.get(path)
    if known is not None and known[0] == inode:
        return known[1]
    owner = server_owner(path)  # a /proc walk: tens of ms with a few hundred processes
    if owner is not None:
        _owners[path] = (inode, owner)
    return owner


def grant_to_server(server_path: str, *reply_paths: str) -> bool:
    """As root, hand our reply endpoints to the user the server runs as (when it is not
    root): it can then write them, nobody else can, and root reads them anyway.
    True when done; False when it is not needed or not possible (then the caller's
    permission rules apply)."""
    if os.geteuid() != 0:
        return False
    owner = _cached_server_owner(server_path)
    if owner is None or owner[0] == 0:
        return False
    for p in reply_paths:
        os.chown(p, owner[0], owner[1])
    return True
