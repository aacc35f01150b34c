"""Runtime state of a running server, read and changed over JSON-RPC.

One module per subsystem (usrloc, dialogs, stats, ...). Each offers

* pure parsers that turn Kamailio's answer shapes (reference README, section 4) into flat
  rows (dicts with snake_case keys), shared by the CLI, the monitor and tests, and
* small functions taking an ``rpc`` object (anything with ``call(method, *params)``,
  normally :class:`kamtool.rpc.client.RpcClient`) that call the right methods with the
  right parameter types and turn "not found" error replies into
  :class:`~kamtool.errors.NotFound`.

Nothing here prints; the CLI renders.
"""

from __future__ import annotations

from typing import Any, Protocol

NOT_SET = "[not set]"


class Rpc(Protocol):
    """What the functions here need from a JSON-RPC client."""

    def call(self, method: str, *params: Any) -> Any: ...


def unset(value: Any) -> Any:
    """Kamailio's ``"[not set]"`` (and the ``"NULL"`` some modules print) as None."""
    return None if value in (NOT_SET, "NULL") else value
