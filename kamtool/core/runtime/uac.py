"""uac module at run time: the remote registrations (``uac.reg_*``)."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc
from kamtool.errors import NotFound, RpcError

SECRETS = ("auth_password", "auth_ha1")
# bits of the in-memory flags Kamailio reports (uac_reg.c)
STATES = ((1, "disabled"), (2, "ongoing"), (4, "online"), (8, "authsent"), (16, "init"))
FILTERS = ("l_uuid", "l_username", "r_username", "auth_username")


def _call(rpc: Rpc, method: str, *params: Any) -> Any:
    try:
        return rpc.call(method, *params)
    except RpcError as exc:
        if exc.rpc_code == 404:
            raise NotFound(exc.message, rpc_code=exc.rpc_code) from None
        raise


def state(flags: Any) -> str:
    """The flag bits as words (``online``, ``disabled,init`` ...)."""
    if not isinstance(flags, int):
        return ""
    return ",".join(word for bit, word in STATES if flags & bit) or "idle"


def reg_row(item: Any, *, secrets: bool = False) -> dict[str, Any]:
    """One ``uac.reg_dump`` record, with ``state`` decoded; Kamailio prints secrets in the
    clear, they are dropped unless ``secrets``; its ``"none"`` for empty fields is ''."""
    item = dict(item) if isinstance(item, dict) else {}
    if not secrets:
        for key in SECRETS:
            item.pop(key, None)
    for key in ("auth_password", "auth_ha1", "auth_proxy", "contact_addr"):
        if item.get(key) == "none":
            item[key] = ""
    item["state"] = state(item.get("flags"))
    return item


def dump(rpc: Rpc, *, secrets: bool = False) -> list[dict[str, Any]]:
    rows = [reg_row(i, secrets=secrets) for i in _call(rpc, "uac.reg_dump") or []]
    return sorted(rows, key=lambda r: str(r.get("l_uuid")))


def info(rpc: Rpc, value: str, *, by: str = "l_uuid", secrets: bool = False) -> dict[str, Any]:
    return reg_row(_call(rpc, "uac.reg_info", by, value), secrets=secrets)


def enable(rpc: Rpc, value: str, *, by: str = "l_uuid", on: bool = True) -> None:
    _call(rpc, "uac.reg_enable" if on else "uac.reg_disable", by, value)


def reload(rpc: Rpc) -> None:
    """Reload every registration. Kamailio refuses this within ``reg_gc_interval``
    (150 s) of the previous reload; ``refresh`` of one l_uuid has no such limit."""
    try:
        _call(rpc, "uac.reg_reload")
    except RpcError as exc:
        # Kamailio's answer to a reload too soon is "Failed to shift records"; other
        # errors (no uac module: Method Not Found) must not be blamed on the interval.
        if "shift" in exc.message.lower():
            exc.hint = exc.hint or (
                "Kamailio allows one uac.reg_reload per reg_gc_interval (150 s); "
                "'kamtool uacreg refresh L_UUID' reloads one registration at any time"
            )
        raise


def refresh(rpc: Rpc, l_uuid: str) -> None:
    """Load one record again from the database."""
    _call(rpc, "uac.reg_refresh", l_uuid)
