"""One poll of a group of sections, turned into the message the app receives.

Runs in a worker thread. The server being unreachable (refused, timed out) is told
apart from the server refusing one request (a module not loaded), which only blanks
the section concerned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kamtool.errors import KamtoolError, OperationTimeout, RpcUnavailable
from kamtool.tui.messages import Polled, PollFailed

UNREACHABLE = (RpcUnavailable, OperationTimeout)  # the server, not the request, is the problem


def read_group(
    group: str, reads: Mapping[str, Callable[[], Any]], *, optional: bool, at: float
) -> Polled | PollFailed:
    """Call every read of ``group``; ``at`` is when the poll started.

    With ``optional``, a section the server refuses is reported as an ``error:<name>``
    entry of the data instead of failing the whole group.
    """
    data: dict[str, Any] = {}
    try:
        for name, read in reads.items():
            try:
                data[name] = read()
            except UNREACHABLE:
                raise
            except KamtoolError as exc:
                if not optional:
                    raise
                data[f"error:{name}"] = exc.message
    except UNREACHABLE as exc:
        return PollFailed(group, exc.message, unreachable=True)
    except KamtoolError as exc:
        return PollFailed(group, exc.message, unreachable=False)
    except Exception as exc:  # a bad answer must not kill the monitor: show it
        return PollFailed(group, f"bad answer: {exc!r}", unreachable=False)
    return Polled(group, data, at)
