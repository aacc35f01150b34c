"""The method table of kamtool's JSON-RPC server: name → (function, help, parameter spec).

Every method module exposes ``register(registry, ...)`` adding its methods. The table is
the single source of ``system.listMethods`` and ``system.methodHelp``.

Parameters are positional, as in Kamailio (a ``params`` object is taken as its values in
order). Each :class:`Param` says its JSON type; the registry checks arity and types
*before* calling the function, so functions receive clean Python values:

* a missing required parameter → the method's Kamailio message when it has one
  (``missing=``, code 500, e.g. ``"Not enough parameters (table and AOR to lookup)"``),
  otherwise JSON-RPC ``-32602 Invalid params``;
* a wrong type → ``-32602``. Kamailio does not check: it reads a JSON string given for an
  integer as 0 (``cfg.seti core debug "3"`` sets debug to 0), which is never what the
  caller wanted;
* extra parameters are ignored, as in Kamailio.

Functions may be plain or ``async``; they raise :class:`RpcFault` for Kamailio-style
errors (code + message, the HTTP status/reason on the HTTP transport).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "PARSE_ERROR",
    "Method",
    "Param",
    "Registry",
    "RpcFault",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


class RpcFault(Exception):
    """An error answer: ``code`` and ``message`` go into the JSON-RPC ``error`` member."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# JSON types a parameter may have. "number" accepts int and float, "any" every scalar.
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "number": (int, float),
    "any": (str, int, float, bool, type(None)),
}


INT_MIN, INT_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Param:
    """One positional parameter: ``type`` is ``str``, ``int``, ``number`` or ``any``.

    Integers must lie in ``[min, max]`` (default: signed 64 bits, so nothing downstream
    such as a database column or a timestamp overflows)."""

    name: str
    type: str = "str"
    required: bool = True
    default: Any = None
    min: int = INT_MIN
    max: int = INT_MAX

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):  # JSON true/false are not numbers
            return self.type == "any"
        if not isinstance(value, _TYPES[self.type]):
            return False
        if isinstance(value, int) and self.type != "any":
            return self.min <= value <= self.max
        if isinstance(value, float):
            return value == value and abs(value) != float("inf")
        return True

    def problem(self) -> str:
        """The -32602 message for a value this parameter does not accept."""
        what = {"str": "a string", "int": "an integer", "number": "a number"}.get(
            self.type, "a string, number, boolean or null"
        )
        if self.type in ("int", "number") and (self.min, self.max) != (INT_MIN, INT_MAX):
            what += f" in [{self.min}, {self.max}]"
        return f"Invalid params: '{self.name}' must be {what}"


@dataclass(frozen=True)
class Method:
    """A registered method. ``varargs`` (a Param) takes every remaining parameter."""

    name: str
    fn: Callable[..., Any]
    help: str
    params: tuple[Param, ...] = ()
    missing: str | None = None
    varargs: Param | None = None
    cost: Callable[[], int] | None = None  # rows it would print now; None: 1

    def bind(self, params: list[Any]) -> list[Any]:
        """Check ``params`` against the spec; the argument list for ``fn``."""
        args: list[Any] = []
        for i, spec in enumerate(self.params):
            if i >= len(params):
                if spec.required:
                    if self.missing:
                        raise RpcFault(500, self.missing)
                    raise RpcFault(INVALID_PARAMS, f"Invalid params: missing '{spec.name}'")
                args.append(spec.default)
                continue
            value = params[i]
            if spec.type == "str" and type(value) is int:
                # kamcmd and `kamtool rpc` send a number for an argument that looks like
                # one (`dlg.profile_list callee 1002`): take its decimal text, as a string
                # parameter can only mean that (Kamailio's scan fails on some methods).
                value = str(value)
            if not spec.accepts(value):
                raise RpcFault(INVALID_PARAMS, spec.problem())
            args.append(float(value) if spec.type == "number" else value)
        if self.varargs is not None:
            for value in params[len(self.params) :]:
                if not self.varargs.accepts(value):
                    raise RpcFault(INVALID_PARAMS, self.varargs.problem())
                args.append(value)
        return args


@dataclass
class Registry:
    """Name → :class:`Method`. Includes ``system.*`` from the start."""

    methods: dict[str, Method] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.add("system.listMethods", self._list_methods, "Lists all RPC methods supported.")
        self.add(
            "system.methodHelp",
            self._method_help,
            "Print the help string for given method.",
            Param("method"),
        )
        self.add(
            "system.methodSignature",
            self._method_signature,
            "Returns signature of given method.",
            Param("method", required=False),
        )

    def add(
        self,
        name: str,
        fn: Callable[..., Any],
        help: str,
        *params: Param,
        missing: str | None = None,
        varargs: Param | None = None,
        cost: Callable[[], int] | None = None,
    ) -> None:
        """Register (or replace) method ``name``. ``cost()`` estimates, cheaply, how many
        rows (contacts, dialogs, items) it would answer now: batches are bounded by it."""
        self.methods[name] = Method(name, fn, help, tuple(params), missing, varargs, cost)

    def get(self, name: str) -> Method | None:
        return self.methods.get(name)

    def names(self) -> list[str]:
        """Method names in ASCII order (system.listMethods)."""
        return sorted(self.methods)

    def cost(self, name: Any) -> int:
        """What calling ``name`` would cost now (1 for an ordinary or unknown method)."""
        method = self.methods.get(name) if isinstance(name, str) else None
        if method is None or method.cost is None:
            return 1
        try:
            return max(1, int(method.cost()))
        except Exception:  # an estimate must never break the call
            return 1

    async def call(self, name: str, params: list[Any]) -> Any:
        """Run method ``name``; raises :class:`RpcFault` for error answers."""
        method = self.methods.get(name)
        if method is None:
            raise RpcFault(500, "Method Not Found")
        result = method.fn(*method.bind(params))
        if inspect.isawaitable(result):
            result = await result
        return result

    # ---- system.* --------------------------------------------------------------------

    def _list_methods(self) -> list[str]:
        return self.names()

    def _method_help(self, name: str) -> str:
        method = self.methods.get(name)
        if method is None:
            raise RpcFault(500, "Method Not Found")
        return method.help

    def _method_signature(self, name: str | None = None) -> None:
        raise RpcFault(500, "Not Implemented Yet")  # as Kamailio 5.6
