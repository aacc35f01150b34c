"""Dialogs: ``dlg.list``, ``dlg.dlg_list``, ``dlg.end_dlg``, ``dlg.stats_active``, profiles."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc
from kamtool.errors import NotFound, RpcError

STATES = {1: "unconfirmed", 2: "early", 3: "confirmed_na", 4: "confirmed", 5: "deleted"}


def profiles(value: Any) -> list[str]:
    """dlg's mixed profile array (``[{"caller": "1003"}, "outbound"]``) as
    ``["caller=1003", "outbound"]``."""
    out = []
    for item in value or []:
        if isinstance(item, dict):
            out.extend(f"{k}={v}" for k, v in item.items())
        else:
            out.append(str(item))
    return out


def dialog_row(d: dict[str, Any]) -> dict[str, Any]:
    """One flat row for a dialog object of ``dlg.list`` / ``dlg.profile_list``."""
    caller = d.get("caller") or {}
    callee = d.get("callee") or {}
    state = d.get("state")
    return {
        "h_entry": d.get("h_entry"),
        "h_id": d.get("h_id"),
        "call_id": d.get("call-id"),
        "from_uri": d.get("from_uri"),
        "to_uri": d.get("to_uri"),
        "state": state,
        "state_name": STATES.get(state, str(state)),
        "start_ts": d.get("start_ts"),
        "init_ts": d.get("init_ts"),
        "end_ts": d.get("end_ts"),
        "duration": d.get("duration"),
        "timeout": d.get("timeout"),
        "lifetime": d.get("lifetime"),
        "ref": d.get("ref"),
        "dflags": d.get("dflags"),
        "sflags": d.get("sflags"),
        "iflags": d.get("iflags"),
        "caller_tag": caller.get("tag"),
        "caller_contact": caller.get("contact"),
        "caller_cseq": caller.get("cseq"),
        "caller_route_set": caller.get("route_set"),
        "caller_socket": caller.get("socket"),
        "callee_tag": callee.get("tag"),
        "callee_contact": callee.get("contact"),
        "callee_cseq": callee.get("cseq"),
        "callee_route_set": callee.get("route_set"),
        "callee_socket": callee.get("socket"),
        "profiles": profiles(d.get("profiles")),
        "variables": d.get("variables") or [],
    }


def dialog_rows(answer: Any) -> list[dict[str, Any]]:
    """A ``dlg.list``-style answer (an array of dialogs) as flat rows."""
    return [dialog_row(d) for d in answer or [] if isinstance(d, dict)]


# --------------------------------------------------------------------------- calls


def list_dialogs(rpc: Rpc) -> list[dict[str, Any]]:
    """Every dialog the server keeps."""
    return dialog_rows(rpc.call("dlg.list"))


def show(rpc: Rpc, call_id: str) -> list[dict[str, Any]]:
    """The dialog(s) with Call-ID ``call_id`` (several when the call forked).

    Filtered from ``dlg.list``: Kamailio 5.6's ``dlg.dlg_list`` wants the From tag as
    well and answers nothing without it.
    """
    rows = [r for r in list_dialogs(rpc) if r["call_id"] == call_id]
    if not rows:
        raise NotFound(f"no dialog with Call-ID {call_id}")
    return rows


def end(rpc: Rpc, h_entry: int, h_id: int) -> None:
    """End dialog ``h_entry:h_id`` (the server sends BYE both ways)."""
    try:
        rpc.call("dlg.end_dlg", int(h_entry), int(h_id))
    except RpcError as exc:
        if exc.rpc_code == 404:
            raise NotFound(f"no dialog {h_entry}:{h_id}", rpc_code=exc.rpc_code) from None
        raise


def end_by_call_id(rpc: Rpc, call_id: str) -> list[dict[str, Any]]:
    """End every dialog with Call-ID ``call_id``; return the dialogs ended."""
    rows = show(rpc, call_id)
    for row in rows:
        end(rpc, row["h_entry"], row["h_id"])
    return rows


def stats(rpc: Rpc) -> dict[str, Any]:
    """Active dialogs by phase: ``{starting, connecting, answering, ongoing, all}``."""
    answer = rpc.call("dlg.stats_active")
    return dict(answer) if isinstance(answer, dict) else {"all": answer}


def profile(rpc: Rpc, name: str, value: str | None = None) -> dict[str, Any]:
    """Size and dialogs of profile ``name`` (with ``value``, only that value's dialogs)."""
    params = [str(name)] if value is None else [str(name), str(value)]
    try:
        size = rpc.call("dlg.profile_get_size", *params)
        rows = dialog_rows(rpc.call("dlg.profile_list", *params))
    except RpcError as exc:
        if exc.rpc_code == 404:
            raise NotFound(f"no dialog profile {name}", rpc_code=exc.rpc_code) from None
        raise
    return {"profile": name, "value": value, "size": size, "dialogs": rows}
