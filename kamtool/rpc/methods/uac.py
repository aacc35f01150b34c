"""``uac.reg_*``: Kamailio 5.6's uac RPCs over the proxy's upstream registrations
(:class:`kamtool.proxy.uacreg.UacRegistrar`), answered in Kamailio's shapes: the records
of ``uac.reg_dump``/``uac.reg_info`` carry its field names and "none" for empty values;
an unknown record is a 404 "Record not found"."""

from __future__ import annotations

import time
from typing import Any

from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["register"]


def register(registry: Registry, uacreg: Any) -> None:
    def _line(attr: str, value: str) -> Any:
        try:
            line = uacreg.find(attr, value)
        except ValueError as exc:
            raise RpcFault(400, "Unsupported filter attribute") from exc
        if line is None:
            raise RpcFault(404, "Record not found")
        return line

    def reg_dump() -> list[dict[str, Any]]:
        now = time.time()
        return [line.record(now) for line in uacreg.lines.values()]

    def reg_info(attr: str, value: str) -> dict[str, Any]:
        return _line(attr, value).record(time.time())

    def reg_enable(attr: str, value: str) -> None:
        uacreg.set_enabled(_line(attr, value), True)

    def reg_disable(attr: str, value: str) -> None:
        uacreg.set_enabled(_line(attr, value), False)

    async def reg_reload() -> None:
        try:
            await uacreg.reload()
        except Exception as exc:  # the table cannot be read (the database is away ...)
            raise RpcFault(500, "Failed to reload records - check log messages") from exc

    async def reg_refresh(l_uuid: str) -> None:
        try:
            found = await uacreg.refresh(l_uuid)
        except Exception as exc:
            raise RpcFault(500, "Failed to refresh record - check log messages") from exc
        if not found:  # as Kamailio 5.6 answers for an l_uuid the table does not have
            raise RpcFault(404, "Record not found")

    def reg_remove(l_uuid: str) -> None:
        if not uacreg.remove(l_uuid):
            raise RpcFault(404, "Record not found")

    pair = (Param("attr"), Param("value"))
    uuid = (Param("l_uuid"),)
    for name, fn, doc, params in (
        ("uac.reg_dump", reg_dump, "Dump the contents of user registrations table.", ()),
        ("uac.reg_info", reg_info, "Return the details of a particular record.", pair),
        ("uac.reg_enable", reg_enable, "Enable registration for a particular record.", pair),
        ("uac.reg_disable", reg_disable, "Disable registration for a particular record.", pair),
        ("uac.reg_reload", reg_reload, "Reload records from database.", ()),
        ("uac.reg_refresh", reg_refresh, "Refresh a record from database.", uuid),
        ("uac.reg_remove", reg_remove, "Remove a record from memory.", uuid),
    ):
        registry.add(name, fn, doc, *params)
