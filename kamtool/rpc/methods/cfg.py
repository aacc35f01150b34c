"""``cfg.get|seti|sets|set|list|help`` over :class:`kamtool.proxy.cfg.CfgStore`.

Kamailio answers ``cfg.seti core debug`` (no value) with success and changes nothing; we
answer ``-32602`` (the registry's missing-parameter rule).
"""

from __future__ import annotations

from kamtool.proxy.cfg import CfgStore
from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["register"]


def register(registry: Registry, cfg: CfgStore) -> None:
    def get(group: str, name: str) -> int | str:
        var = cfg.get(group, name)
        if var is None:
            raise RpcFault(400, "Failed to get the variable")
        return var.value

    def set_any(group: str, name: str, value: int | str) -> None:
        if not cfg.set(group, name, value):
            raise RpcFault(400, "Failed to set the variable")

    def seti(group: str, name: str, value: int) -> None:
        var = cfg.get(group, name)
        if var is not None and not isinstance(var.value, int):
            raise RpcFault(400, "Failed to set the variable")
        set_any(group, name, value)

    def list_vars() -> list[str]:
        return [f"{g}: {n}" for g, n in cfg.vars]

    def help_text(group: str, name: str) -> str:
        var = cfg.get(group, name)
        if var is None:
            raise RpcFault(400, "Failed to get the variable")
        return f"{var.help} (parameter type is {var.type_name})".strip()

    group, name = Param("group"), Param("name")
    registry.add("cfg.get", get, "Get the value of a configuration variable.", group, name)
    registry.add(
        "cfg.seti", seti, "Set an integer configuration variable.", group, name,
        Param("value", "int"),
    )  # fmt: skip
    registry.add(
        "cfg.sets", set_any, "Set a configuration variable from a string.", group, name,
        Param("value", "str"),
    )  # fmt: skip
    registry.add(
        "cfg.set", set_any, "Set a configuration variable (integer or string).", group, name,
        Param("value", "any"),
    )  # fmt: skip
    registry.add("cfg.list", list_vars, "List the configuration variables.")
    registry.add("cfg.help", help_text, "Print the description of a variable.", group, name)
