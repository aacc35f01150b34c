"""Free loopback ports for servers started by tests.

Ports come from below Linux's ephemeral range (32768-60999), so an outgoing connection
of another test never takes a port between the moment it is chosen and the moment its
server binds it; under pytest-xdist each worker draws from its own slice, so two workers
never pick the same one. Ports that SIPp takes on its own are left out: every SIPp
process binds media ports from 6000 up and a control port from 8888 up, whatever else
it is told (a server that chose 6006 once lost it to a SIPp started by another worker).
"""

from __future__ import annotations

import os
import random
import socket

_RECENT: list[int] = []  # handed out lately by this process (chosen, maybe not bound yet)
# SIPp's default media (-mp 6000, two ports per process) and control (-cp 8888) ports
_SIPP_OWN = (range(6000, 6200), range(8888, 9000))


def _slice(lo: int, hi: int) -> tuple[int, int]:
    """This process's share of ``lo..hi``: all of it, or one xdist worker's slice."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = (hi - lo + 1) // max(count, 1)
    start = lo + (index % max(count, 1)) * size
    return start, start + size - 1


def _bindable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((host, port))
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, port))
    except OSError:
        return False
    return True


def _pick(host: str, lo: int, hi: int) -> int:
    first, last = _slice(lo, hi)
    for _ in range(500):
        port = random.randint(first, last)
        if any(port in r for r in _SIPP_OWN) or port in _RECENT:
            continue
        if _bindable(host, port):
            _RECENT.append(port)
            del _RECENT[:-256]
            return port
    raise RuntimeError(f"no free port in {first}-{last}")


def free_port(host: str = "127.0.0.1") -> int:
    """A port number that is free for both UDP and TCP on ``host`` right now."""
    return _pick(host, 10000, 32767)


def low_free_port() -> int:
    """A free UDP+TCP port below 10000 (sipsak truncates 5-digit ports in its URIs)."""
    return _pick("127.0.0.1", 5100, 9999)
