"""A TCP relay on 127.0.0.1 in front of a database server, which a test can cut.

The shared MariaDB and PostgreSQL servers cannot be stopped by a test; a proxy pointed at
the relay sees what it would see if they were:

* ``cut()``: every relayed connection is closed and new ones are closed as soon as they
  are accepted: "the server went away" (what a restart or a crash looks like);
* ``stall()``: connections stay open but nothing is forwarded and new ones get no
  greeting: "the server is slow or the network is gone" (statements hang);
* ``slow(seconds)``: every chunk waits ``seconds`` before it is forwarded: "the server
  is slow" (a statement takes a few round trips of that);
* ``restore()``: forwarding again (stalled connections are dropped: their state is lost).

Threads only, bounded: one accept thread and two pumps per connection, all daemons,
all ended by ``close()``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

OPEN, CUT, STALL = "open", "cut", "stall"


class DbRelay:
    """``DbRelay(host, port)``; ``.port`` is where to connect; see the module docstring."""

    def __init__(self, host: str, port: int, listen_host: str = "127.0.0.1") -> None:
        self.target = (host, port)
        self.mode = OPEN
        self.delay = 0.0  # seconds each forwarded chunk waits (slow())
        self.accepted = 0
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._pumps: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((listen_host, 0))  # (another address: reached from a netns)
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @classmethod
    def for_url(cls, url: str) -> tuple[DbRelay, str]:
        """A relay to the server of database ``url`` and the same URL through it."""
        parts = urlsplit(url)
        relay = cls(parts.hostname or "127.0.0.1", parts.port or 0)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{relay.port}" if auth else f"127.0.0.1:{relay.port}"
        return relay, urlunsplit(parts._replace(netloc=netloc))

    # ------------------------------------------------------------------ control

    def cut(self) -> None:
        """The server is gone: close everything, refuse what comes."""
        self.mode = CUT
        self._drop_all()

    def stall(self) -> None:
        """The server stops answering: keep connections open, forward nothing."""
        self.mode = STALL

    def slow(self, seconds: float) -> None:
        """Forward, but hold every chunk ``seconds`` first (0: full speed again)."""
        self.delay = seconds

    def restore(self) -> None:
        """Forward again at full speed; connections held by a stall are dropped. Open
        first: a client reconnecting the moment its held connection drops must not be
        accepted (and held for good) as a stalled one, as happened now and then."""
        with self._lock:
            held = self._conns if self.mode == STALL else []
            if held:
                self._conns = []
            self.mode = OPEN
            self.delay = 0.0
        for s in held:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        """Stop accepting, drop every connection and join every thread (idempotent)."""
        self._closed.set()
        # close() alone does not wake a thread blocked in accept() on Linux (the thread
        # then lives on, idle, until the process ends); shutdown() does.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._drop_all()
        self._thread.join(5)
        with self._lock:
            pumps, self._pumps = self._pumps, []
        for t in pumps:
            t.join(5)
        if self._thread.is_alive() or any(t.is_alive() for t in pumps):
            raise RuntimeError("DbRelay: a relay thread did not end")

    @property
    def threads(self) -> list[threading.Thread]:
        """The relay's threads still alive (none after close())."""
        with self._lock:
            pumps = list(self._pumps)
        return [t for t in (self._thread, *pumps) if t.is_alive()]

    def __enter__(self) -> DbRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ threads

    def _drop_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._conns.extend(socks)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._closed.is_set():  # accepted just as the relay closed
                client.close()
                return
            self.accepted += 1
            if self.mode == CUT:
                client.close()
                continue
            self._track(client)
            if self.mode == STALL:
                continue  # held open, never answered
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._track(server)
            pump = threading.Thread(target=self._pump, args=(client, server), daemon=True)
            with self._lock:
                self._pumps = [t for t in self._pumps if t.is_alive()]
                self._pumps.append(pump)
            pump.start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        """Copy both ways until either side closes; hold the bytes while stalled."""
        peers = {a: b, b: a}
        try:
            while not self._closed.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                if self.mode != OPEN:
                    if self.mode == CUT:
                        return
                    self._closed.wait(0.05)  # stalled: bytes stay in the kernel buffers
                    continue
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if self.delay:
                        self._closed.wait(self.delay)
                    peers[s].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()
