"""Load a KEMI route script (Kamailio's app_python3 and app_python3s styles).

* app_python3: the module has ``mod_init()`` returning an object whose methods
  ``ksr_request_route(self, msg)``, ``ksr_reply_route(self, msg)`` and the names given to
  ``t_on_branch``/``t_on_reply``/``t_on_failure`` are the routes;
* app_python3s: module-level ``ksr_request_route()`` and friends, no ``msg`` argument.

``import KSR`` inside the script gives kamtool's API (:mod:`kamtool.proxy.ksr`). A script
that does not compile, or whose ``mod_init()`` fails, is a :class:`~kamtool.errors.ConfigError`
naming file:line (``kamtool serve`` exits 8). A route a script does not define (e.g.
``ksr_onsend_route``) is skipped silently.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from kamtool.errors import ConfigError

log = logging.getLogger(__name__)

MODULE_PREFIX = "kamtool_route_script_"


class LegacyMessage:
    """The ``msg`` argument app_python3 passes to routes (its legacy object); KEMI
    scripts use ``KSR`` instead and only pass it along."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    @property
    def Type(self) -> str:
        return "SIP_REQUEST" if self._ctx.msg.is_request else "SIP_REPLY"

    @property
    def Method(self) -> str | None:
        return self._ctx.msg.method if self._ctx.msg.is_request else None

    @property
    def RURI(self) -> str | None:
        return self._ctx.msg.uri_text if self._ctx.msg.is_request else None

    @property
    def src_address(self) -> tuple[str, int]:
        return self._ctx.addr


class RouteScript:
    """A loaded script: ``call(name, msg)`` runs one of its routes (None when it has
    no such route)."""

    def __init__(self, path: str, module: Any, target: Any, style: str) -> None:
        self.path = path
        self.module = module
        self.target = target  # the mod_init() object, or the module itself
        self.style = style  # "app_python3" or "app_python3s"
        self._cache: dict[str, Any] = {}

    @property
    def takes_msg(self) -> bool:
        """app_python3 routes take the legacy ``msg``; app_python3s routes nothing."""
        return self.style == "app_python3"

    def route(self, name: str) -> Any:
        """The callable of route ``name``, or None."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        fn = getattr(self.target, name, None)
        if fn is not None and not callable(fn):
            fn = None
        self._cache[name] = fn
        return fn


def load_script(path: str) -> RouteScript:
    """Import the script at ``path`` with ``KSR`` installed (see module docstring)."""
    from kamtool.proxy.ksr import ensure_installed

    ensure_installed()
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"route script {path}: no such file")
    try:
        source = file.read_text(encoding="utf-8")
        code = compile(source, str(file), "exec")
    except SyntaxError as exc:
        raise ConfigError(
            f"route script {exc.filename}:{exc.lineno}: {exc.msg}",
            hint="fix the script; kamtool serve does not start with a broken route",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"route script {path}: {exc}") from exc
    name = MODULE_PREFIX + file.stem.replace("-", "_").replace(".", "_")
    spec = importlib.util.spec_from_loader(name, loader=None, origin=str(file))
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(file)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
        if callable(getattr(module, "mod_init", None)):
            target = module.mod_init()
            if target is None:
                raise ConfigError(f"route script {path}: mod_init() returned no object")
            style = "app_python3"
            init = getattr(target, "child_init", None)
            if callable(init):
                init(1)  # one process: Kamailio's first SIP worker's rank
        else:
            target, style = module, "app_python3s"
    except ConfigError:
        raise
    except BaseException as exc:
        where = _script_line(exc, str(file))
        raise ConfigError(f"route script {where}: {type(exc).__name__}: {exc}") from exc
    if RouteScript(path, module, target, style).route("ksr_request_route") is None:
        raise ConfigError(f"route script {path}: no ksr_request_route defined ({style} style)")
    log.info("route script %s loaded (%s style)", path, style)
    return RouteScript(path, module, target, style)


def _script_line(exc: BaseException, file: str) -> str:
    """``file:line`` of the deepest frame of ``exc`` inside the script."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == file:
            line = frame.lineno
    return f"{file}:{line}" if line is not None else file
