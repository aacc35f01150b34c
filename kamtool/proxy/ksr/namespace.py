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


KsrModule = types.ModuleType  # what the KSR object and its sub-modules are
_MARK = "__kamtool_ksr__"  # in the KSR module's dict: kamtool built it


def _module(name: str, doc: str, functions: Mapping[str, Callable[..., Any]]) -> KsrModule:
    """A plain module holding ``functions``; a name it lacks raises :class:`KsrNameError`
    through a module ``__getattr__`` (PEP 562). Plain modules, not a class with
    ``__getattr__``: Python looks such a class's attributes up through a slow hook, and
    ``KSR.tm.t_relay`` is two look-ups on every call a route makes."""
    mod = types.ModuleType(name, doc)
    mod.__dict__.update(functions)

    def __getattr__(attr: str) -> Any:  # only for names the module lacks
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise _unknown(name, attr, __dir__())

    def __dir__() -> list[str]:
        return sorted(k for k in mod.__dict__ if not k.startswith("_"))

    mod.__getattr__ = __getattr__  # type: ignore[method-assign]
    mod.__dir__ = __dir__  # type: ignore[method-assign]
    return mod


def build_module(
    core: Mapping[str, Callable[..., Any]], modules: Mapping[str, Mapping[str, Callable[..., Any]]]
) -> KsrModule:
    """The KSR module object: ``core`` at the top, each of ``modules`` as ``KSR.<name>``."""
    subs = {name: _module(f"KSR.{name}", f"KSR.{name}", functions)
            for name, functions in modules.items()}  # fmt: skip
    ksr = _module("KSR", "kamtool's KEMI API (Kamailio's KSR names and return codes)",
                  {**core, **subs, _MARK: True})  # fmt: skip
    return ksr


def is_ours(module: Any) -> bool:
    """True for a KSR module :func:`build_module` made."""
    return isinstance(module, types.ModuleType) and module.__dict__.get(_MARK) is True


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
