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


SIP_FIELDS = ("ip.src", "ipv6.src", "udp.srcport", "tcp.srcport", "ip.dst", "ipv6.dst",
              "udp.dstport", "tcp.dstport", "sip.Call-ID", "sip.CSeq.method", "sip.Method",
              "sip.Status-Code", "frame.time_epoch")  # fmt: skip


def sip_packets(pcap: Path, *decode_as: str) -> list[dict[str, str]]:
    """The SIP messages tshark finds in ``pcap``: one dict of :data:`SIP_FIELDS` each
    (``decode_as``: extra ``-d`` rules, e.g. ``udp.port==5070,sip``)."""
    need("tshark")
    args = ["tshark", "-r", str(pcap), "-Y", "sip", "-T", "fields", "-E", "separator=\t",
            "-E", "occurrence=f"]  # fmt: skip
    for rule in decode_as:
        args += ["-d", rule]
    for f in SIP_FIELDS:
        args += ["-e", f]
    res = subprocess.run(args, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "LC_ALL": "C"})  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = []
    for line in res.stdout.splitlines():
        values = dict(zip(SIP_FIELDS, line.split("\t"), strict=False))
        rows.append(
            {
                "src": f"{values['ip.src'] or values['ipv6.src']}:"
                f"{values['udp.srcport'] or values['tcp.srcport']}",
                "dst": f"{values['ip.dst'] or values['ipv6.dst']}:"
                f"{values['udp.dstport'] or values['tcp.dstport']}",
                "call_id": values["sip.Call-ID"],
                "method": values["sip.CSeq.method"],
                "first": values["sip.Method"] or values["sip.Status-Code"],
                "time": values["frame.time_epoch"],
                "proto": "udp" if values["udp.srcport"] else "tcp",
            }
        )
    return rows


def key(row: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """What identifies one message on the wire (addresses, Call-ID, CSeq method, method
    or status), comparable between tshark rows and ``kamtool trace --json`` objects."""
    first = row.get("first")
    if first is None:  # a trace object
        first = str(row["status"]) if row["status"] is not None else row["method"]
    return (row["src"], row["dst"], row["call_id"], row["method"], first)
