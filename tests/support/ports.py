"""Free loopback ports for servers started by tests (parallel-safe enough for 2 cores)."""

from __future__ import annotations

import random
import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port number that is free for both UDP and TCP on ``host`` right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


def low_free_port() -> int:
    """A free UDP+TCP port below 10000 (sipsak truncates 5-digit ports in its URIs)."""
    for _ in range(200):
        port = random.randint(5100, 9999)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free low port")
