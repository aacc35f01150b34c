"""The ``KSR`` object a script imports, and its sub-modules (``KSR.tm``, ``KSR.pv`` ...).

A name kamtool does not export fails at once with an error that names it and the
closest names that do exist (a script written for Kamailio's whole API meets the gaps
here, not as a mysterious ``AttributeError`` deep in a route).
"""

from __future__ import annotations

import difflib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any


class KsrNameError(AttributeError):
    """A KSR function or module kamtool does not have."""


def _unknown(where: str, name: str, known: list[str]) -> KsrNameError:
    close = difflib.get_close_matches(name, known, n=4, cutoff=0.5)
    hint = f"; closest: {', '.join(where + '.' + c for c in close)}" if close else ""
    return KsrNameError(f"{where}.{name} is not in kamtool's KSR API{hint}")


class Namespace:
    """One KSR sub-module: its functions as attributes."""

    def __init__(self, name: str, functions: Mapping[str, Callable[..., Any]]) -> None:
        self._name = name
        self.__dict__.update(functions)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        known = [k for k in self.__dict__ if not k.startswith("_")]
        raise _unknown(self._name, name, known)

    def __dir__(self) -> list[str]:
        return sorted(k for k in self.__dict__ if not k.startswith("_"))

    def __repr__(self) -> str:
        return f"<{self._name}>"


class KsrModule(types.ModuleType):
    """The ``KSR`` module: core functions and the sub-modules."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        known = [k for k in self.__dict__ if not k.startswith("_")]
        raise _unknown("KSR", name, known)


def build_module(
    core: Mapping[str, Callable[..., Any]], modules: Mapping[str, Mapping[str, Callable[..., Any]]]
) -> KsrModule:
    """The KSR module object: ``core`` at the top, each of ``modules`` as ``KSR.<name>``."""
    ksr = KsrModule("KSR", "kamtool's KEMI API (Kamailio's KSR names and return codes)")
    ksr.__dict__.update(core)
    for name, functions in modules.items():
        setattr(ksr, name, Namespace(f"KSR.{name}", functions))
    return ksr


def install(ksr: KsrModule) -> None:
    """Make ``import KSR`` (and the legacy ``Router.Logger``) resolve to ``ksr``."""
    sys.modules["KSR"] = ksr
    router = types.ModuleType("Router", "app_python's legacy module: Router.Logger")
    logger = types.ModuleType("Router.Logger")
    for level in ("info", "dbg", "warn", "err", "notice", "crit"):
        setattr(logger, f"LM_{level.upper()}", getattr(ksr, level))
    logger.LM_DBG = ksr.dbg
    logger.LM_WARN = ksr.warn
    logger.LM_ERR = ksr.err
    router.Logger = logger  # type: ignore[attr-defined]
    sys.modules["Router"] = router
    sys.modules["Router.Logger"] = logger
