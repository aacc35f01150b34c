"""The SIP torture corpus: RFC 4475 messages expanded from our transcription, RFC 5118 files.

RFC 4475 messages live in ``data/torture/rfc4475/<name>.txt``, written by us in the notation of
RFC 4475 section 2:

- ``<allOneLine>`` on a line of its own, then lines, then ``</allOneLine>``: those lines are one
  line on the wire, concatenated with nothing added between them (2.1);
- ``<hex>...</hex>``: the octets spelled in hexadecimal, whitespace inside ignored (2.2);
- ``<repeat count=N>...</repeat>``: the enclosed text N times (2.3).

Every (logical) line ends with CRLF on the wire, as in the RFC's archive, so a message
without a body ends with an empty line. RFC 5118 messages are plain ``.dat`` files under
``data/torture/valid`` and ``data/torture/invalid`` (see that folder's README).
"""

from __future__ import annotations

import re
from pathlib import Path

DATA = Path(__file__).parent / "data" / "torture"
RFC4475 = DATA / "rfc4475"

# RFC 4475 messages a parser or a proxy/UAS check must refuse; every other one is "valid/".
RFC4475_INVALID = frozenset(
    "badaspec baddn badinv01 badvers bext01 bigcode clerr escruri insuf ltgtruri lwsruri "
    "lwsstart mcl01 mismatch01 mismatch02 multi01 ncl novelsc quotbal regbadct scalar02 "
    "scalarlg trws unkscm zeromf".split()
)

_INLINE = re.compile(r"<hex>(.*?)</hex>|<repeat count=(\d+)>(.*?)</repeat>", re.S)


def expand_inline(text: str) -> bytes:
    """One logical line (hex and repeat tags, no line breaks) as octets."""
    out = bytearray()
    pos = 0
    for m in _INLINE.finditer(text):
        out += text[pos : m.start()].encode("utf-8")
        if m.group(1) is not None:
            out += bytes.fromhex("".join(m.group(1).split()))
        else:
            out += expand_inline(m.group(3)) * int(m.group(2))
        pos = m.end()
    out += text[pos:].encode("utf-8")
    return bytes(out)


def expand(text: str) -> bytes:
    """RFC 4475 section 2 notation (lines separated by LF) to the wire bytes."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline ends the last line, it adds no empty line
    out = bytearray()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line == "<allOneLine>":
            end = lines.index("</allOneLine>", i + 1)
            line = "".join(lines[i + 1 : end])
            i = end
        elif "allOneLine>" in line:
            raise ValueError(f"line {i + 1}: allOneLine tags go on lines of their own")
        out += expand_inline(line) + b"\r\n"
        i += 1
    return bytes(out)


def rfc4475_names() -> list[str]:
    return sorted(p.stem for p in RFC4475.glob("*.txt"))


def load(name: str) -> bytes:
    """The wire bytes of a torture message by name (``wsinv``, ``ipv6-good`` ...)."""
    p = RFC4475 / f"{name}.txt"
    if p.exists():
        return expand(p.read_text(encoding="utf-8"))
    for sub in ("valid", "invalid"):
        p = DATA / sub / f"{name}.dat"
        if p.exists():
            return p.read_bytes()
    raise FileNotFoundError(name)


def corpus() -> dict[str, bytes]:
    """Every torture message keyed ``valid/<name>`` or ``invalid/<name>``, sorted by key."""
    out = {}
    for name in rfc4475_names():
        sub = "invalid" if name in RFC4475_INVALID else "valid"
        out[f"{sub}/{name}"] = load(name)
    for p in DATA.glob("*/*.dat"):
        out[f"{p.parent.name}/{p.stem}"] = p.read_bytes()
    return dict(sorted(out.items()))
