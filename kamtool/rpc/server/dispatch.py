"""JSON-RPC 2.0 request handling shared by the HTTP, FIFO and datagram transports.

Where Kamailio 5.6's jsonrpcs gives a sensible answer we give the same (unknown method →
``500 "Method Not Found"``; a single notification is executed *and* answered, without
``id``; a ``params`` object is taken as its values in order; extra params are ignored).
Where it hangs or silently ignores a bad request, we answer a JSON-RPC 2.0 error instead
(each one is a deliberate difference, see the reference README §3 "Protocol edge cases"):

=================================  ==============================  ========================
request                            Kamailio 5.6                    kamtool
=================================  ==============================  ========================
malformed JSON / empty body        no reply, connection hangs      -32700 Parse error
batch ``[{..},{..}]``              ``{}`` without id, not run      JSON-RPC 2.0 batch
empty batch ``[]``                 ``{}`` without id               -32600 Invalid Request
not an object (``[1,2]`` items)    ``{}`` without id               -32600 per item
``jsonrpc`` missing or not "2.0"   ``{}``, not run                 -32600 Invalid Request
``method`` missing / not string    ``{}``, not run                 -32600 Invalid Request
``params`` a string                ``{}``, not run                 -32600 Invalid Request
``id`` null                        echoed as ``0``                 echoed as ``null``
``id`` object/array/bool           echoed as ``0``                 -32600, ``id: null``
wrong parameter type               read as 0 / scan fails          -32602 Invalid params
missing param w/o module message   success ``{}``, nothing done    -32602 Invalid params
=================================  ==============================  ========================

Inside a batch, notifications get no answer (JSON-RPC 2.0 §6); a batch of only
notifications answers nothing at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kamtool.rpc import kamjson
from kamtool.rpc.methods import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    Registry,
    RpcFault,
)

__all__ = [
    "MAX_BATCH",
    "Reply",
    "error_object",
    "handle_bytes",
    "handle_document",
    "loads",
    "method_names",
    "is_streamed",
    "render",
]

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # requests in one batch; more is refused with -32600
# rows (contacts, dialogs, htable items) a whole batch may print: a batch of 200 ul.dump
# calls made a 1 GB answer before this bound. One big call alone is fine: it is streamed.
MAX_BATCH_COST = 50_000
# event-loop time a batch's calls may take in all; the calls after it are answered with
# SERVER_BUSY instead of run (1,000 cheap calls fit; 1,000 `stats.get_statistics all`
# with 100,000 contacts would hold the loop ~20 s in 20 ms slices)
BATCH_TIME_BUDGET = 1.0
SERVER_BUSY = -32000  # JSON-RPC 2.0's implementation-defined server error range

_NO_ID = object()  # marks a notification (no "id" member)


@dataclass(frozen=True)
class Reply:
    """What a transport sends back.

    ``body`` is the JSON value to print (None: send nothing, e.g. a batch of
    notifications); ``status``/``reason`` are the HTTP status line Kamailio would use
    (the error code and message for errors in 100..599).
    """

    body: Any
    status: int = 200
    reason: str = "OK"


_HTTP_FOR_JSONRPC = {
    PARSE_ERROR: (400, "Bad Request"),
    INVALID_REQUEST: (400, "Bad Request"),
    INVALID_PARAMS: (400, "Bad Request"),
    INTERNAL_ERROR: (500, "Internal Server Error"),
}


def _status_for(code: int, message: str) -> tuple[int, str]:
    if 100 <= code <= 599:
        return code, message  # Kamailio: HTTP status = error code, reason = message
    return _HTTP_FOR_JSONRPC.get(code, (500, "Internal Server Error"))


def error_object(code: int, message: str, req_id: Any = _NO_ID) -> dict[str, Any]:
    """A JSON-RPC error response (no ``id`` member for notifications)."""
    out: dict[str, Any] = {"jsonrpc": "2.0", "error": {"code": code, "message": message}}
    if req_id is not _NO_ID:
        out["id"] = req_id
    return out


def _error_reply(code: int, message: str, req_id: Any = None) -> Reply:
    status, reason = _status_for(code, message)
    return Reply(error_object(code, message, req_id), status, reason)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(data: bytes | str) -> Any:
    """Strict JSON: Python's parser also takes ``NaN``/``Infinity``, which JSON has not
    (an ``"id": NaN`` could then never be echoed back)."""
    return json.loads(data, parse_constant=_no_constant)


async def handle_bytes(
    registry: Registry, data: bytes, admit: Callable[[Any], None] | None = None
) -> Reply:
    """Parse ``data`` as a JSON-RPC request or batch and run it. ``admit(doc)`` may
    refuse the parsed document (by raising) before anything runs."""
    if not data.strip():
        return _error_reply(PARSE_ERROR, "Parse error: empty request")
    try:
        doc = loads(data)
    except (ValueError, RecursionError):
        # UnicodeDecodeError is a ValueError too.
        return _error_reply(PARSE_ERROR, "Parse error: invalid JSON")
    if admit is not None:
        admit(doc)
    return await handle_document(registry, doc)


def method_names(doc: Any) -> list[Any]:
    """The ``method`` members of a request or batch (whatever their type)."""
    items = doc if isinstance(doc, list) else [doc]
    return [item.get("method") if isinstance(item, dict) else None for item in items]


async def handle_document(registry: Registry, doc: Any) -> Reply:
    """Run an already parsed request (object) or batch (array)."""
    if isinstance(doc, list):
        if not doc:
            return _error_reply(INVALID_REQUEST, "Invalid Request: empty batch")
        if len(doc) > MAX_BATCH:
            return _error_reply(
                INVALID_REQUEST, f"Invalid Request: more than {MAX_BATCH} requests in a batch"
            )
        names = method_names(doc)
        unit = {name: registry.cost(name) for name in set(names) if isinstance(name, str)}
        cost = sum(unit.get(name, 1) if isinstance(name, str) else 1 for name in names)
        if cost > MAX_BATCH_COST:
            return _error_reply(
                INVALID_REQUEST,
                f"Invalid Request: batch too costly ({cost} rows to answer, at most "
                f"{MAX_BATCH_COST}): send the big calls one by one",
            )
        answers = []
        spent = 0.0  # seconds the batch's calls held the event loop
        for item in doc:
            if spent > BATCH_TIME_BUDGET:
                answer, is_notification = _over_budget(item, spent)
            else:
                started = time.perf_counter()
                answer, _, _, is_notification = await _run_one(registry, item)
                spent += time.perf_counter() - started
            if not is_notification:
                answers.append(answer)
            await asyncio.sleep(0)  # SIP messages that arrived meanwhile go first
        return Reply(answers if answers else None)
    answer, status, reason, _ = await _run_one(registry, doc)
    return Reply(answer, status, reason)


def _over_budget(item: Any, spent: float) -> tuple[dict[str, Any], bool]:
    """The answer for a batch item not run because the batch used up its time."""
    req_id = item.get("id", _NO_ID) if isinstance(item, dict) else None
    notification = req_id is _NO_ID
    if not notification and (isinstance(req_id, bool) or not _valid_id(req_id)):
        req_id = None
    message = (
        f"Server error: batch over its time budget ({spent * 1000:.0f} ms): not run, "
        "send it again in a later request"
    )
    return error_object(SERVER_BUSY, message, _NO_ID if notification else req_id), notification


async def _run_one(registry: Registry, req: Any) -> tuple[dict[str, Any], int, str, bool]:
    """One request object → (response object, HTTP status, reason, was a notification)."""

    def fail(code: int, message: str, req_id: Any = None, notification: bool = False):
        status, reason = _status_for(code, message)
        rid = _NO_ID if notification else req_id
        return error_object(code, message, rid), status, reason, notification

    if not isinstance(req, dict):
        return fail(INVALID_REQUEST, "Invalid Request: not a JSON object")
    req_id = req.get("id", _NO_ID)
    notification = req_id is _NO_ID
    if not notification and (isinstance(req_id, bool) or not _valid_id(req_id)):
        return fail(INVALID_REQUEST, "Invalid Request: id must be a string, number or null")
    # an invalid request is answered even without an id (JSON-RPC 2.0: with id null)
    bad_id = None if notification else req_id
    if req.get("jsonrpc") != "2.0":
        return fail(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"', bad_id)
    method = req.get("method")
    if not isinstance(method, str):
        return fail(INVALID_REQUEST, 'Invalid Request: "method" must be a string', bad_id)
    params = req.get("params", [])
    if isinstance(params, dict):
        params = list(params.values())  # Kamailio: names ignored, values in order
    elif not isinstance(params, list):
        return fail(INVALID_REQUEST, 'Invalid Request: "params" must be an array or object', bad_id)
    started = time.perf_counter()
    try:
        result = await registry.call(method, params)
    except RpcFault as fault:
        log.debug("rpc %.60s: error %d (%.1f ms)", method, fault.code, _ms(started))
        return fail(fault.code, fault.message, req_id, notification)
    except Exception:
        log.exception("RPC method %.60s failed", method)
        return fail(INTERNAL_ERROR, "Internal error", req_id, notification)
    # the method name only: parameters may carry values nobody should find in a log
    log.debug("rpc %.60s: ok (%.1f ms)", method, _ms(started))
    if result is None:
        result = {}  # Kamailio's answer for methods without a return value
    answer: dict[str, Any] = {"jsonrpc": "2.0", "result": result}
    if not notification:
        answer["id"] = req_id
    return answer, 200, "OK", notification


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _valid_id(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int)


_LARGE_NODES = 2000  # replies with more JSON nodes are printed off the event loop


def _is_large(body: Any) -> bool:
    """True when ``body`` has more than _LARGE_NODES values (stops counting there)."""
    budget = _LARGE_NODES
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            budget -= len(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            budget -= len(node)
            stack.extend(node)
        if budget < 0:
            return True
    return False


def is_streamed(body: Any) -> bool:
    """Whether ``body`` must be sent with :func:`kamtool.rpc.kamjson.stream` (it holds a
    :class:`~kamtool.rpc.kamjson.LazyList`)."""
    if isinstance(body, list):  # a batch: look into each answer's result
        return any(isinstance(a, dict) and kamjson.contains_lazy(a.get("result")) for a in body)
    return isinstance(body, dict) and kamjson.contains_lazy(body.get("result"))


async def render(body: Any) -> bytes:
    """``body`` as Kamailio-formatted JSON bytes. Big replies (a 20,000-contact ``ul.dump``
    takes seconds to print) are printed in a worker thread so the SIP event loop keeps
    running; the structures printed are fresh copies made by the method."""
    if _is_large(body):
        return await kamjson.off_loop(lambda: kamjson.encode(kamjson.dumps(body)))
    return kamjson.encode(kamjson.dumps(body))
