"""A call's ladder diagram (sngrep's call flow) as lines of text.

One column per address (``ip:port``, in the order they first appear), one row per
message: its time on the left and an arrow from the sender's column to the receiver's,
labelled with the method or the status. Pure functions of the messages and the width, so
the widgets and the tests share them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from kamtool.core.trace import TracedMessage

TIME_WIDTH = 13  # "HH:MM:SS.mmm "
MIN_GAP = 12  # columns closer than this cannot hold a label


@dataclass(frozen=True)
class Ladder:
    """The diagram: ``header`` (the addresses over their columns) and one line per message."""

    header: str
    rows: list[str]
    columns: list[str]


def address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def label(msg: TracedMessage) -> str:
    """What the arrow says: ``INVITE``, ``407 Proxy Authentication Required``; `` (SDP)``
    when the message carries a body."""
    if msg.status is None:
        text = msg.method
    else:
        text = msg.first_line.split(" ", 1)[1] if " " in msg.first_line else msg.first_line
    head, sep, body = msg.hep.payload.partition(b"\r\n\r\n")
    if sep and body.strip():
        text += " (SDP)" if b"application/sdp" in head.lower() else " (body)"
    return text


def stamp(msg: TracedMessage) -> str:
    h = msg.hep
    return time.strftime("%H:%M:%S", time.localtime(h.ts_sec)) + f".{h.ts_usec // 1000:03d}"


def render(messages: Sequence[TracedMessage], width: int) -> Ladder:
    """The ladder of ``messages`` (one call, in order) in ``width`` characters."""
    columns: list[str] = []
    for msg in messages:
        for addr in (address(msg.hep.src_ip, msg.hep.src_port),
                     address(msg.hep.dst_ip, msg.hep.dst_port)):  # fmt: skip
            if addr not in columns:
                columns.append(addr)
    n = max(len(columns), 1)
    # the outer columns sit half an address in from the edges, the rest spread evenly:
    # the labels get the room between them
    margin = 8
    usable = width - TIME_WIDTH - 2 * margin
    gap = max(usable // (n - 1), MIN_GAP) if n > 1 else MIN_GAP
    xs = [TIME_WIDTH + margin + i * gap for i in range(n)]
    line_width = max(width, xs[-1] + 1)
    header = [" "] * line_width
    for addr, x in zip(columns, xs, strict=False):
        text = addr[: gap - 1]
        start = max(TIME_WIDTH - 1, x - len(text) // 2)
        header[start : start + len(text)] = text
    rows = []
    for msg in messages:
        row = [" "] * line_width
        row[: TIME_WIDTH - 1] = stamp(msg)[: TIME_WIDTH - 1].ljust(TIME_WIDTH - 1)
        for x in xs:
            row[x] = "│"
        a = xs[columns.index(address(msg.hep.src_ip, msg.hep.src_port))]
        b = xs[columns.index(address(msg.hep.dst_ip, msg.hep.dst_port))]
        text = label(msg)
        if a == b:  # to itself
            row[a + 1 : a + 3] = "─↺"
            text = text[: gap - 4]
            row[a + 4 : a + 4 + len(text)] = text
        else:
            lo, hi = min(a, b), max(a, b)
            row[lo + 1 : hi] = "─" * (hi - lo - 1)
            if b > a:
                row[hi - 1] = "▶"
            else:
                row[lo + 1] = "◀"
            text = text[: hi - lo - 5]
            start = lo + 3
            row[start : start + len(text)] = text
        rows.append("".join(row).rstrip())
    return Ladder("".join(header).rstrip(), rows, columns)
