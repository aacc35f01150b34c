"""Run-time configuration variables (Kamailio's cfg framework, ``cfg.*`` RPCs).

Variables live in groups (``core``, ``tm``, ``registrar`` ...), are ``int`` or ``str``,
and may carry an ``on_set`` callback so a change takes effect immediately: ``core debug``
sets the level of the ``kamtool`` logger (Kamailio levels: -3 alert .. 3 debug).
The proxy declares its knobs at start (``cfg.declare("tm", "fr_timer", 5000, ...)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CfgStore", "CfgVar", "debug_to_logging_level", "default_cfg"]


@dataclass
class CfgVar:
    group: str
    name: str
    value: int | str
    help: str = ""
    # applies a new value at once; raising ValueError refuses it
    on_set: Callable[[int | str], None] | None = None

    @property
    def type_name(self) -> str:
        return "integer" if isinstance(self.value, int) else "string"


def debug_to_logging_level(level: int) -> int:
    """Kamailio's debug level → Python logging level."""
    if level <= -1:
        return logging.ERROR
    if level == 0:
        return logging.WARNING
    if level <= 2:
        return logging.INFO
    return logging.DEBUG


class CfgStore:
    """Variables by (group, name), in declaration order (``cfg.list``)."""

    def __init__(self) -> None:
        self.vars: dict[tuple[str, str], CfgVar] = {}

    def declare(
        self,
        group: str,
        name: str,
        value: int | str,
        help: str = "",
        on_set: Callable[[int | str], None] | None = None,
    ) -> CfgVar:
        var = CfgVar(group, name, value, help, on_set)
        self.vars[(group, name)] = var
        return var

    def get(self, group: str, name: str) -> CfgVar | None:
        return self.vars.get((group, name))

    def set(self, group: str, name: str, value: int | str) -> bool:
        """Set a variable. A string for an integer variable is converted when it is a
        number (Kamailio's ``cfg.sets``). False for unknown names or unusable values."""
        var = self.vars.get((group, name))
        if var is None:
            return False
        if isinstance(var.value, int):
            if isinstance(value, str):
                try:
                    value = int(value.strip(), 0)
                except ValueError:
                    return False
        elif not isinstance(value, str):
            return False
        if var.on_set is not None:
            try:
                var.on_set(value)
            except ValueError:  # out of range: refused, the old value stays
                return False
        var.value = value
        return True


def default_cfg(logger: str = "kamtool", debug: int = 2) -> CfgStore:
    """A store with ``core debug`` wired to the ``logger`` logger's level."""
    store = CfgStore()

    def apply(level: int | str) -> None:
        logging.getLogger(logger).setLevel(debug_to_logging_level(int(level)))

    store.declare("core", "debug", debug, "debug level (-3 alert .. 3 debug)", apply)
    store.declare("core", "log_facility", "LOG_DAEMON", "syslog facility")
    store.declare("core", "memlog", 3, "log level for memory status/summary information")
    return store
