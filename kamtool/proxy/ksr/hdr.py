"""``KSR.hdr`` as Kamailio 5.6's core exports it: ``append``/``insert``/``remove``/``get``,
``gete``/``getw``, the ``*_idx`` getters, ``append_after``/``insert_before``/``rminsert``,
``match_content``, and ``append_to_reply``.

Header names match in any case; indexes count from 0, negative ones from the last field
(-1 the last). ``remove`` of a header the message lacks is 1, as in Kamailio.
"""

from __future__ import annotations

from typing import Any

from kamtool.proxy.ksr.context import e_and_w, state
from kamtool.sip.header_fields import Headers
from kamtool.sip.headers import canonical_name


def parse_line(line: str) -> tuple[str, str]:
    """``"Name: value\r\n"`` as (name, value); ValueError for anything else."""
    name, sep, value = str(line).partition(":")
    if not sep or not name.strip():
        raise ValueError(f"hdr.append: {line!r} is not a header line (Name: value\\r\\n)")
    return name.strip(), value.strip()


def append(line: str) -> int:
    """Add a whole header line (``"P-Hint: outbound\r\n"``) after the others."""
    state.ctx.msg.headers.add(*parse_line(line))
    return 1


def insert(line: str) -> int:
    """Add a whole header line before the others."""
    state.ctx.msg.headers.prepend(*parse_line(line))
    return 1


def append_to_reply(line: str) -> int:
    """Add a header line to the replies this route makes itself (sl_send_reply,
    t_reply, auth challenges), not to the request (textops' append_to_reply)."""
    ctx = state.ctx
    ctx.reply_lumps = [*(ctx.reply_lumps or ()), parse_line(line)]
    return 1


def is_present(name: str) -> int:
    return 1 if str(name) in state.ctx.msg.headers else -1


def get(name: str) -> Any:
    return state.ctx.msg.headers.get(str(name))


def _values(name: str) -> list[str]:
    return state.ctx.msg.headers.get_lines(str(name))


def get_idx(name: str, idx: int) -> str | None:
    """The ``idx``-th field of ``name`` (negative: from the end), None when there is none."""
    values = _values(name)
    i = int(idx)
    return values[i] if -len(values) <= i < len(values) else None


gete, getw = e_and_w(get)
gete_idx, getw_idx = e_and_w(get_idx)


def remove(name: str) -> int:
    """Remove every field of ``name``: 1, also when there was none (Kamailio's)."""
    state.ctx.msg.headers.remove(str(name))
    return 1


def _place(line: str, anchor: str, after: bool) -> int:
    """Put a header line after the first / before the first field named ``anchor``; at the
    end / at the top when there is none (as Kamailio does)."""
    name, value = parse_line(line)
    msg = state.ctx.msg
    items = list(msg.headers)
    key = canonical_name(str(anchor))
    where = next((i for i, (n, _) in enumerate(items) if canonical_name(n) == key), None)
    if where is None:
        where = len(items) if after else 0
    else:
        where += 1 if after else 0
    items.insert(where, (name, value))
    msg.headers = Headers(items)
    return 1


def append_after(line: str, anchor: str) -> int:
    return _place(line, anchor, after=True)


def insert_before(line: str, anchor: str) -> int:
    return _place(line, anchor, after=False)


def rminsert(name: str, line: str) -> int:
    """Remove the fields of ``name``, then put ``line`` at the top."""
    remove(name)
    return insert(line)


def _matches(op: str, value: str, body: str) -> bool:
    low, body_low = value.lower(), body.strip().lower()
    if op == "eq":
        return body_low == low
    if op == "ne":  # (Kamailio 5.6 compares lengths only: "ne" of a same-length value is
        return len(body_low) != len(low)  # False; a script relying on more breaks there)
    if op == "sw":
        return body_low.startswith(low)
    return low in body_low  # "in"


def match_content(name: str, op: str, value: str, which: str) -> bool:
    """Compare the fields of ``name`` with ``value`` (``op``: eq, ne, sw starts with, in
    contains; case-insensitive) — ``which``: f(irst), l(ast), a(ll), o(ne at least).
    Kamailio 5.6 has no "re" (False, as there)."""
    op, pick = str(op).lower(), str(which)[:1].lower()
    if op not in ("eq", "ne", "sw", "in") or pick not in ("f", "l", "a", "o"):
        return False
    results = [_matches(op, str(value), v) for v in _values(name)]
    if not results:
        return False
    if pick == "f":
        return results[0]
    if pick == "a":
        return all(results)
    if pick == "o":
        return any(results)
    return results[-1]


def hdr_functions() -> dict[str, Any]:
    """``KSR.hdr``."""
    return {
        "append": append, "insert": insert, "remove": remove, "is_present": is_present,
        "get": get, "append_to_reply": append_to_reply, "gete": gete, "getw": getw,
        "get_idx": get_idx, "gete_idx": gete_idx, "getw_idx": getw_idx,
        "append_after": append_after, "insert_before": insert_before, "rminsert": rminsert,
        "match_content": match_content,
        "rmappend": lambda rm, line: (remove(rm), append(line))[1],
    }  # fmt: skip
