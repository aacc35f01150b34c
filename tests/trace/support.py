"""Helpers of the trace tests: ``kamtool trace`` as a subprocess, tshark captures of the
loopback traffic and tshark's reading of pcap files."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.kamtool_proxy import isolated_env
from tests.support.require import unavailable


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        unavailable(f"{tool} is not installed (apt-get install {tool})")


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 20.0) -> str | None:
    """What ``proc`` wrote on stderr up to the end of the line holding ``marker`` (None:
    it never came). Read from the descriptor, unbuffered: a buffered reader could take
    that line into its buffer while select() waits for more."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 4096)
            seen += chunk
            if marker.encode() in seen and seen.endswith(b"\n"):
                return seen.decode()
            if not chunk:
                return None
    return None


class Trace:
    """``kamtool [--json] [--rpc URL] trace ARGS`` running until its ``--for`` ends."""

    def __init__(self, home: Path, *args: str, rpc: str | None = None, json_: bool = True):
        home.mkdir(parents=True, exist_ok=True)
        glob = ["--json"] if json_ else []
        if rpc:
            glob += ["--rpc", rpc]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kamtool", *glob, "trace", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=isolated_env(home),
        )  # fmt: skip
        self.first_err = self._wait_listening()

    def _wait_listening(self) -> str:
        seen = read_until(self.proc, "listening for HEP")
        if seen is None:
            self.proc.kill()
            raise AssertionError(f"kamtool trace did not start: {self.proc.communicate()}")
        return seen

    def finish(self, timeout: float = 30.0) -> tuple[int, str, str]:
        """Wait for the end of ``--for``; (exit status, stdout, stderr)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGINT)
            out, err = self.proc.communicate(timeout=10)
        return self.proc.returncode, out, self.first_err + err

    def stop(self) -> list[dict[str, Any]]:
        """Ctrl-C (how a trace ends without ``--for``); the JSON objects it printed."""
        time.sleep(0.5)  # the last HEP datagrams are on their way
        self.proc.send_signal(signal.SIGINT)
        return self.messages()

    def messages(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        code, out, err = self.finish(timeout)
        assert code == 0, err
        return [json.loads(line) for line in out.splitlines() if line.strip()]


class LoopbackCapture:
    """tshark capturing ``bpf`` on lo into a pcap file (root, or dumpcap's capabilities)."""

    def __init__(self, path: Path, bpf: str) -> None:
        need("tshark")
        self.path = path
        self.proc = subprocess.Popen(
            ["tshark", "-i", "lo", "-f", bpf, "-w", str(path), "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if read_until(self.proc, "Capturing on") is None:
            self.proc.kill()
            unavailable(f"tshark cannot capture on lo here: {self.proc.communicate()}")

    def stop(self) -> Path:
        time.sleep(0.5)  # the last packets reach the capture buffer
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.path


def sip_packets(pcap: Path, *decode_as: str, ports: tuple[int, ...] = ()) -> list[dict[str, str]]:
    """The SIP messages tshark finds in ``pcap``, each a dict of ``src``, ``dst``,
    ``call_id``, ``method`` (the CSeq's), ``first`` (method or status code), ``time`` and
    ``proto`` (``decode_as``: extra ``-d`` rules, e.g. ``udp.port==5070,sip``). A TCP
    segment may carry several messages: each is one (tshark's JSON repeats the ``sip``
    layer, a key Python's json would keep only once). ``ports``: SIP on these UDP and TCP
    ports whatever else tshark knows them for (it picks a connection's dissector by its
    lower port: a peer's port that some other protocol registered hid a whole call)."""
    need("tshark")
    args = ["tshark", "-r", str(pcap), "-Y", "sip", "-T", "json"]
    for port in ports:
        args += ["-d", f"tcp.port=={port},sip", "-d", f"udp.port=={port},sip"]
    for rule in decode_as:
        args += ["-d", rule]
    res = subprocess.run(args, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "LC_ALL": "C"})  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = []
    for packet in json.loads(res.stdout or "[]", object_pairs_hook=_pairs):
        layers = _first(_first(packet, "_source"), "layers")
        ip = _first(layers, "ip") or _first(layers, "ipv6") or {}
        l4 = _first(layers, "udp") or _first(layers, "tcp") or {}
        proto = "udp" if _first(layers, "udp") else "tcp"
        src = _first(ip, "ip.src") or _first(ip, "ipv6.src")
        dst = _first(ip, "ip.dst") or _first(ip, "ipv6.dst")
        for sip in layers.get("sip", []):
            rows.append({
                "src": f"{src}:{_first(l4, f'{proto}.srcport')}",
                "dst": f"{dst}:{_first(l4, f'{proto}.dstport')}",
                "call_id": _deep(sip, "sip.Call-ID") or "",
                "method": _deep(sip, "sip.CSeq.method") or "",
                "first": _deep(sip, "sip.Method") or _deep(sip, "sip.Status-Code") or "",
                "time": _first(_first(layers, "frame") or {}, "frame.time_epoch"),
                "proto": proto,
            })  # fmt: skip
    return rows


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    """A JSON object with every value of a repeated key kept, in order."""
    out: dict[str, list[Any]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


def _first(obj: Any, key: str) -> Any:
    values = obj.get(key) if isinstance(obj, dict) else None
    return values[0] if values else None


def _deep(obj: Any, key: str) -> Any:
    """The first value of ``key`` anywhere under ``obj`` (tshark nests fields in trees)."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key][0]
        for values in obj.values():
            for v in values:
                found = _deep(v, key)
                if found is not None:
                    return found
    elif isinstance(obj, list):
        for v in obj:
            found = _deep(v, key)
            if found is not None:
                return found
    return None


def key(row: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """What identifies one message on the wire (addresses, Call-ID, CSeq method, method
    or status), comparable between tshark rows and ``kamtool trace --json`` objects."""
    first = row.get("first")
    if first is None:  # a trace object
        first = str(row["status"]) if row["status"] is not None else row["method"]
    return (row["src"], row["dst"], row["call_id"], row["method"], first)
