"""JSON-RPC 2.0 as the client speaks it: requests, replies, and kamcmd's argument rules.

Sans-IO: bytes in, values out. The transports (:mod:`kamtool.rpc.transports`) move the
bytes, :class:`kamtool.rpc.client.RpcClient` ties the two together.

Kamailio's jsonrpcs quirks this module copes with (see the reference README, section 3):

* an error reply carries Kamailio's own code (``500``, ``404``, ``400`` ...), not only the
  JSON-RPC ``-32xxx`` codes; over HTTP the same code is also the HTTP status;
* a request it cannot execute (batch, ``"jsonrpc": "1.0"``, no method) is answered with an
  empty ``{}`` result, sometimes without ``id``;
* ``id`` is echoed as given (a string stays a string).

Error codes Kamailio 5.6 answers with (reference captures): **500** for an unknown method
("Method Not Found"), missing or mistyped parameters ("Not enough parameters ...",
"Invalid Parameters") and module refusals ("Ongoing reload", "State Update Failed",
"No such htable"); **404** for a missing thing ("Dialog not found", "Contact not found",
"Key not found in htable.", "Profile not found: x"); **400** for cfg variables ("Failed
to get the variable"). kamtool exits with status 7 for any error reply and puts the code
and message in ``error.details.rpc_code`` / ``rpc_message`` of ``--json`` output; the
runtime commands (``ul show AOR``, ``dlg end`` ...) turn "not found" answers into
status 3 instead.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from kamtool.errors import BadInput, RpcError, RpcUnavailable

# JSON-RPC 2.0 error codes (the spec); Kamailio mostly answers with HTTP-like codes instead.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

_ids = itertools.count(1)
_ids_lock = threading.Lock()


def next_id() -> int:
    """A process-wide unique request id (thread-safe)."""
    with _ids_lock:
        return next(_ids)


class NotJsonRpc(RpcUnavailable):
    """Something answered, but not in JSON-RPC (a web page, another protocol)."""


@dataclass(frozen=True)
class Reply:
    """A decoded reply: the parsed document and the exact bytes received."""

    document: Any
    raw: bytes

    @property
    def result(self) -> Any:
        return self.document.get("result") if isinstance(self.document, dict) else None


def make_request(method: str, params: list[Any] | dict[str, Any] | None, req_id: Any) -> dict:
    """The request object (``params`` omitted when None, as kamcmd does for no arguments)."""
    if not isinstance(method, str) or not method:
        raise BadInput("the RPC method name must be a non-empty string")
    req: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None and params != []:
        req["params"] = params
    req["id"] = req_id
    return req


def encode(request: dict[str, Any]) -> bytes:
    """Compact JSON bytes for ``request``."""
    return json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Repeated(list):  # type: ignore[type-arg]
    """The values of a key an object holds more than once, in order.

    Kamailio's RPC structs may repeat a member name (``pv.shvGet`` answers
    ``{"items": {"shv": {...}, "shv": {...}}}``); a plain ``json.loads`` keeps only the
    last of them, so a reply with three variables read as one.
    """


def _keep_repeated(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key not in obj:
            obj[key] = value
        elif isinstance(obj[key], Repeated):
            obj[key].append(value)
        else:
            obj[key] = Repeated([obj[key], value])
    return obj


def decode(raw: bytes, *, url: str) -> Reply:
    """Parse reply bytes; a reply that is not JSON-RPC raises :class:`RpcUnavailable`.

    A member name an object repeats keeps all its values (:class:`Repeated`).
    """
    try:
        doc = json.loads(raw, object_pairs_hook=_keep_repeated)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        snippet = raw[:80].decode("utf-8", "replace").strip()
        if raw and raw.lstrip()[:1] in (b"{", b"["):
            raise RpcUnavailable(
                f"{url} sent an incomplete JSON-RPC reply ({len(raw)} bytes)",
                hint="the reply was cut short: the server could not send the whole answer",
                url=url,
            ) from exc
        hint = "is the URL right? Kamailio's stock config answers JSON-RPC only on paths /RPC..."
        raise NotJsonRpc(
            f"{url} did not answer with JSON-RPC ({len(raw)} bytes: {snippet!r}...)",
            hint=hint,
            url=url,
        ) from exc
    if not isinstance(doc, dict) or ("result" not in doc and "error" not in doc):
        raise NotJsonRpc(f"{url} answered with something that is not a JSON-RPC reply", url=url)
    return Reply(doc, raw)


def check(reply: Reply, method: str, *, url: str) -> Any:
    """The ``result`` of ``reply``, or :class:`RpcError` with the server's code and message."""
    doc = reply.document
    if "error" in doc:
        err = doc["error"]
        if isinstance(err, dict):
            code = err.get("code")
            message = str(err.get("message", "")) or "error without a message"
        else:
            code, message = None, str(err)
        code = code if isinstance(code, int) else INTERNAL_ERROR
        raise RpcError(
            code,
            f"{method}: {message} (code {code})",
            method=method,
            rpc_message=message,
            url=url,
            **({"data": err["data"]} if isinstance(err, dict) and "data" in err else {}),
        )
    return doc.get("result")


# --------------------------------------------------------------------------- kamcmd args

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


def parse_cli_param(arg: str) -> Any:
    """One command-line argument, typed as kamcmd does.

    ``s:TEXT`` is always the string TEXT, ``i:N`` always the integer N (also ``0x..``);
    otherwise a decimal integer is sent as an integer, a decimal number as a float and
    anything else as a string. (Kamailio does not coerce: a string where it scans an
    integer is read as 0, a number where it scans a string fails the call.)
    """
    if arg.startswith("s:"):
        return arg[2:]
    if arg.startswith("i:"):
        try:
            return int(arg[2:], 0)
        except ValueError:
            raise BadInput(f"{arg!r}: 'i:' needs an integer after it") from None
    if _INT.fullmatch(arg):
        return int(arg)
    if _FLOAT.fullmatch(arg):
        return float(arg)
    return arg


def parse_cli_params(args: list[str] | tuple[str, ...]) -> list[Any]:
    """All command-line arguments through :func:`parse_cli_param`."""
    return [parse_cli_param(a) for a in args]


def parse_params_json(text: str) -> list[Any] | dict[str, Any]:
    """``--params-json``: a JSON array (positional) or object (named) of parameters."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"--params-json is not valid JSON: {exc}") from None
    if not isinstance(value, (list, dict)):
        value = [value]  # a single scalar is one positional parameter
    return value
