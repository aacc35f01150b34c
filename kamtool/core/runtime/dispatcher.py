"""Dispatcher destinations at run time: ``dispatcher.list``, ``reload``, ``set_state``,
``ping_active``."""

from __future__ import annotations

import re
from typing import Any

from kamtool.core.runtime import Rpc, unset
from kamtool.errors import BadInput, NotFound, RpcError

_STATE_WORDS = {"active": "a", "inactive": "i", "disabled": "d", "trying": "t"}
_FLAG_NAMES = {"A": "active", "I": "inactive", "D": "disabled", "T": "trying"}


def dest_row(set_id: Any, dest: dict[str, Any]) -> dict[str, Any]:
    """One flat row for a ``DEST`` of ``dispatcher.list``; ``FLAGS`` is e.g. ``"AP"``."""
    flags = str(dest.get("FLAGS", ""))
    attrs = dest.get("ATTRS") or {}
    return {
        "set_id": set_id,
        "uri": dest.get("URI"),
        "flags": flags,
        "state": _FLAG_NAMES.get(flags[:1], flags[:1] or None),
        "probing": flags[1:2] == "P",
        "priority": dest.get("PRIORITY"),
        "attrs": unset(attrs.get("BODY")) or None,
        "weight": attrs.get("WEIGHT"),
        "rweight": attrs.get("RWEIGHT"),
        "maxload": attrs.get("MAXLOAD"),
        "duid": attrs.get("DUID"),
        "socket": attrs.get("SOCKET"),
        "sockname": attrs.get("SOCKNAME"),
        "obproxy": attrs.get("OBPROXY"),
        **_runtime_fields(dest),
    }


def _runtime_fields(dest: dict[str, Any]) -> dict[str, Any]:
    """Latency statistics (``ds_ping_latency_stats``) and call load (``ds_hash_size``):
    Kamailio adds ``LATENCY`` and ``RUNTIME`` only when those are on."""
    fields: dict[str, Any] = {}
    latency = dest.get("LATENCY")
    if isinstance(latency, dict):
        fields.update(
            latency_avg=latency.get("AVG"), latency_std=latency.get("STD"),
            latency_est=latency.get("EST"), latency_max=latency.get("MAX"),
            timeouts=latency.get("TIMEOUT"),
        )  # fmt: skip
    runtime = dest.get("RUNTIME")
    if isinstance(runtime, dict):
        fields["load"] = runtime.get("DLGLOAD")
    return fields


def list_rows(answer: Any) -> list[dict[str, Any]]:
    """A ``dispatcher.list`` answer as rows, sets in ascending order (Kamailio lists them
    in reverse) and destinations in the server's order."""
    rows = []
    records = answer.get("RECORDS", []) if isinstance(answer, dict) else []
    sets = [r.get("SET", r) for r in records or [] if isinstance(r, dict)]
    for s in sorted(sets, key=lambda s: (s.get("ID") is None, s.get("ID"))):
        for target in s.get("TARGETS", []) or []:
            dest = target.get("DEST", target) if isinstance(target, dict) else {}
            rows.append(dest_row(s.get("ID"), dest))
    return rows


def list_destinations(rpc: Rpc) -> list[dict[str, Any]]:
    """Every destination with its run-time state (none when nothing is loaded: Kamailio
    answers that with an error, "No Destination Sets")."""
    try:
        return list_rows(rpc.call("dispatcher.list"))
    except RpcError as exc:
        if "No Destination Sets" in str(exc.details.get("rpc_message", "")):
            return []
        raise


def ping_active(rpc: Rpc, active: bool | None = None) -> dict[str, Any]:
    """Whether the server probes its destinations; with ``active``, switch it first.
    Returns ``{"active": bool, "was": bool}``."""
    if active is None:
        answer = rpc.call("dispatcher.ping_active")
        was = bool(answer.get("OldPingState")) if isinstance(answer, dict) else None
        return {"active": was, "was": was}
    answer = rpc.call("dispatcher.ping_active", 1 if active else 0)
    was = bool(answer.get("OldPingState")) if isinstance(answer, dict) else None
    return {"active": active, "was": was}


def reload(rpc: Rpc) -> str:
    """Reload the destinations from the database (Kamailio refuses twice within 5 s)."""
    return str(rpc.call("dispatcher.reload"))


def state_code(state: str) -> str:
    """``active``/``inactive``/``disabled``/``trying`` (``+probing``) or Kamailio's letters
    (``a``, ``ip``, ``tp`` ...) as the code ``dispatcher.set_state`` takes."""
    text = state.strip().lower()
    probing = False
    for suffix in ("+probing", ",probing", "-probing"):
        if text.endswith(suffix):
            text, probing = text[: -len(suffix)], True
    code = _STATE_WORDS.get(text, text) + ("p" if probing else "")
    if not re.fullmatch(r"[aidt]p?", code):
        raise BadInput(
            f"unknown dispatcher state {state!r}",
            hint="use active, inactive, disabled or trying (optionally +probing), "
            "or Kamailio's letters: a, i, d, t, ap, ip, ...",
        )
    return code


def set_state(rpc: Rpc, state: str, set_id: int, uri: str) -> str:
    """Set destination ``uri`` (or ``all``) of set ``set_id`` to ``state``."""
    try:
        return str(rpc.call("dispatcher.set_state", state_code(state), int(set_id), str(uri)))
    except RpcError as exc:
        if "State Update Failed" in str(exc.details.get("rpc_message", "")):
            raise NotFound(f"no destination {uri} in set {set_id}", rpc_code=exc.rpc_code) from None
        raise
