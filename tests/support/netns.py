"""Hosts on one machine: network namespaces on a bridge (``ip netns``, veth pairs; root).

``with Hosts(2) as net:`` makes a bridge with the address ``net.gateway`` (10.213.N.1/24,
N chosen free) in the test's own namespace and namespaces ``net.names[i]`` whose veth
has ``net.ips[i]`` (10.213.N.2, .3 ...); ``net.exec(i)`` is the command prefix that runs
a program in host ``i``. The test's own namespace reaches every host through the bridge,
so servers it starts on ``net.gateway`` (a Redis, a relay to a database) are what the
hosts see as the network's. Everything is removed at the end, whatever happened.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import subprocess

from tests.support.require import unavailable


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=20)


class Hosts:
    """``n`` namespaces on a bridge (see module docstring)."""

    def __init__(self, n: int = 2) -> None:
        if os.geteuid() != 0:
            unavailable("network namespaces need root")
        if shutil.which("ip") is None:
            unavailable("ip is not installed (apt-get install iproute2)")
        tag = secrets.token_hex(2)
        self.bridge = f"ktbr{tag}"
        self.names = [f"kt{tag}h{i}" for i in range(n)]
        self._veths = [f"kt{tag}v{i}" for i in range(n)]
        used = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
        free = [k for k in range(1, 255) if f"10.213.{k}." not in used]
        self.subnet = f"10.213.{random.choice(free)}"
        self.gateway = f"{self.subnet}.1"
        self.ips = [f"{self.subnet}.{i + 2}" for i in range(n)]

    def exec(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.names[i]]

    def __enter__(self) -> Hosts:
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for ns, veth, ip in zip(self.names, self._veths, self.ips, strict=True):
                _ip("netns", "add", ns)
                _ip("link", "add", veth, "type", "veth", "peer", "name", veth + "n")
                _ip("link", "set", veth + "n", "netns", ns)
                _ip("link", "set", veth, "master", self.bridge)
                _ip("link", "set", veth, "up")
                _ip("addr", "add", f"{ip}/24", "dev", veth + "n", ns=ns)
                _ip("link", "set", veth + "n", "up", ns=ns)
                _ip("link", "set", "lo", "up", ns=ns)
        except subprocess.CalledProcessError as exc:
            self.__exit__(None, None, None)
            unavailable(f"cannot make network namespaces: {exc.stderr.strip()}")
        return self

    def __exit__(self, *exc: object) -> None:
        for ns in self.names:  # (a namespace takes its end of the veth along)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        for veth in self._veths:
            subprocess.run(["ip", "link", "del", veth], capture_output=True, timeout=20)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=20)
