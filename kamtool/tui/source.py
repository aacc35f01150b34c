"""Where the monitor's data comes from: the ``MonitorSource`` interface and its JSON-RPC form.

The monitor never talks to the network itself. It reads a :class:`MonitorSource`;
:class:`RpcSource` implements it on top of any object with a synchronous
``call(method, *params)`` (kamtool's ``RpcClient``, or the capture replayer used by
tests). Every method blocks, so the app calls them from thread workers.

This module must not import textual: ``kamtool monitor --once --json`` uses it alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from kamtool.core.runtime import dialogs, dispatcher, htable, pike, system, tm, usrloc, websocket
from kamtool.core.runtime import stats as runtime_stats
from kamtool.errors import KamtoolError, OperationTimeout, RpcError, RpcUnavailable

# Names shown to people (kamtool.core.runtime.dialogs.STATES has the names for scripts).
DIALOG_STATES = {
    1: "unconfirmed",
    2: "early",
    3: "confirmed (no ACK)",
    4: "confirmed",
    5: "deleted",
}


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Contact:
    """One registered contact of an AoR (``ul.dump``)."""

    aor: str
    address: str
    expires: int | None  # seconds left when sampled; None once usrloc says "expired"
    q: float | None
    call_id: str
    cseq: int | None
    user_agent: str
    received: str
    path: str
    state: str
    socket: str
    transport: str
    instance: str
    reg_id: int | None
    ruid: str
    last_modified: int | None

    @property
    def key(self) -> str:
        return self.ruid or f"{self.aor}|{self.address}"


@dataclass(frozen=True)
class Dialog:
    """One dialog (``dlg.list``); ``h_entry``/``h_id`` identify it for ``dlg.end_dlg``."""

    h_entry: int
    h_id: int
    call_id: str
    from_uri: str
    to_uri: str
    state: int
    state_name: str
    start_ts: int
    duration: int  # seconds when sampled (Kamailio computes now - start_ts)
    timeout: int
    caller_contact: str
    callee_contact: str

    @property
    def key(self) -> str:
        return f"{self.h_entry}:{self.h_id}"


@dataclass(frozen=True)
class Destination:
    """One dispatcher destination of a set (``dispatcher.list``)."""

    set_id: int
    uri: str
    flags: str  # Kamailio's two letters, e.g. "AP"
    state: str  # active | inactive | disabled | trying
    probing: bool
    priority: int
    weight: int | None
    attrs: str

    @property
    def key(self) -> str:
        return f"{self.set_id}|{self.uri}"


@dataclass(frozen=True)
class Ban:
    """A banned address in the ``ipban`` htable; ``expires`` is seconds left if known."""

    address: str
    value: str
    expires: int | None


@dataclass(frozen=True)
class PikeEntry:
    """A hot source address reported by ``pike.top``."""

    address: str
    hits_prev: int
    hits_curr: int
    expires: int
    status: str


@dataclass(frozen=True)
class WebSocket:
    """One open WebSocket connection (``ws.dump``); ``idle``: seconds since last used."""

    id: int
    proto: str
    source: str
    local: str
    state: str
    awaiting_pong: bool
    idle: int
    subprotocol: str

    @property
    def key(self) -> str:
        return str(self.id)


# --------------------------------------------------------------------------- interface


@runtime_checkable
class MonitorSource(Protocol):
    """What the monitor reads and the actions it can take. Every call may block.

    Methods raise :class:`~kamtool.errors.RpcUnavailable` (or
    :class:`~kamtool.errors.OperationTimeout`) when the server cannot be reached, and
    another :class:`~kamtool.errors.KamtoolError` (``RpcError``, ``NotFound``) when it
    refuses one request, e.g. because the module behind it is not loaded.
    """

    target: str

    def version(self) -> str: ...
    def uptime(self) -> int: ...
    def stats(self) -> dict[str, float]: ...
    def transactions(self) -> dict[str, int]: ...
    def contacts(self) -> list[Contact]: ...
    def dialogs(self) -> list[Dialog]: ...
    def dispatcher(self) -> list[Destination]: ...
    def bans(self) -> list[Ban]: ...
    def pike_top(self) -> list[PikeEntry]: ...
    def websockets(self) -> list[WebSocket] | None: ...
    def close_websocket(self, conn_id: int) -> None: ...
    def remove_contact(self, aor: str, address: str) -> None: ...
    def end_dialog(self, h_entry: int, h_id: int) -> None: ...
    def set_destination_state(self, set_id: int, uri: str, active: bool, probing: bool) -> None: ...


class RpcCaller(Protocol):
    def call(self, method: str, *params: Any) -> Any: ...


# --------------------------------------------------------------------------- RPC source


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def transport_of(address: str, socket: str) -> str:
    """The transport of a contact: ``;transport=`` in its URI, else its socket's proto."""
    lower = address.lower()
    if ";transport=" in lower:
        return lower.split(";transport=", 1)[1].split(";", 1)[0].split(">", 1)[0].upper()
    if lower.startswith("sips:"):
        return "TLS"
    if ":" in socket:
        return socket.split(":", 1)[0].upper()
    return "UDP"


def contact_of(row: Mapping[str, Any]) -> Contact:
    """A :class:`Contact` from a ``kamtool.core.runtime.usrloc`` row."""
    address, socket = _text(row.get("contact")), _text(row.get("socket"))
    q = row.get("q")
    return Contact(
        aor=_text(row.get("aor")),
        address=address,
        expires=None if row.get("expired") else _int(row.get("expires")),
        q=None if q is None else float(q),
        call_id=_text(row.get("call_id")),
        cseq=_int(row.get("cseq")),
        user_agent=_text(row.get("user_agent")),
        received=_text(row.get("received")),
        path=_text(row.get("path")),
        state=_text(row.get("state")),
        socket=socket,
        transport=transport_of(address, socket),
        instance=_text(row.get("instance")),
        reg_id=_int(row.get("reg_id")),
        ruid=_text(row.get("ruid")),
        last_modified=_int(row.get("last_modified")),
    )


def dialog_of(row: Mapping[str, Any]) -> Dialog:
    """A :class:`Dialog` from a ``kamtool.core.runtime.dialogs`` row."""
    state = _int(row.get("state")) or 0
    return Dialog(
        h_entry=int(row["h_entry"]),
        h_id=int(row["h_id"]),
        call_id=_text(row.get("call_id")),
        from_uri=_text(row.get("from_uri")),
        to_uri=_text(row.get("to_uri")),
        state=state,
        state_name=DIALOG_STATES.get(state, _text(row.get("state_name"))),
        start_ts=_int(row.get("start_ts")) or 0,
        duration=_int(row.get("duration")) or 0,
        timeout=_int(row.get("timeout")) or 0,
        caller_contact=_text(row.get("caller_contact")),
        callee_contact=_text(row.get("callee_contact")),
    )


def destination_of(row: Mapping[str, Any]) -> Destination:
    """A :class:`Destination` from a ``kamtool.core.runtime.dispatcher`` row."""
    return Destination(
        set_id=int(row.get("set_id") or 0),
        uri=_text(row.get("uri")),
        flags=_text(row.get("flags")),
        state=_text(row.get("state")) or "?",
        probing=bool(row.get("probing")),
        priority=_int(row.get("priority")) or 0,
        weight=_int(row.get("weight")),
        attrs=_text(row.get("attrs")),
    )


def _server_time(text: str) -> datetime | None:
    for fmt in ("%a %b %d %H:%M:%S %Y", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except (ValueError, AttributeError):
            continue
    return None


class RpcSource:
    """:class:`MonitorSource` over JSON-RPC, with Kamailio 5.6's method names.

    The answers are flattened by ``kamtool.core.runtime`` (shared with the CLI) and
    turned into the row dataclasses above. ``client_factory`` builds a client with
    ``call(method, *params)``; each worker thread gets its own.
    """

    max_ban_lookups = 50  # htable.get per banned address (for its expiry), at most
    max_sources = 20  # pike's busiest sources kept

    def __init__(
        self,
        client_factory: Callable[[], RpcCaller],
        target: str | Callable[[], str],
        *,
        table: str = "location",
    ):
        self._target = target
        self.table = table
        self._factory = client_factory
        self._local = threading.local()

    @property
    def target(self) -> str:
        """The endpoint watched (a callable target may change once one answered)."""
        return self._target() if callable(self._target) else self._target

    def call(self, method: str, *params: Any) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._factory()
        return client.call(method, *params)

    def version(self) -> str:
        return system.version(self)

    def uptime(self) -> int:
        return int(system.uptime(self).get("uptime", 0))

    def stats(self) -> dict[str, float]:
        return runtime_stats.numbers(self)

    def transactions(self) -> dict[str, int]:
        return {k: int(v) for k, v in tm.stats(self).items() if _int(v) is not None}

    def contacts(self) -> list[Contact]:
        return [contact_of(r) for r in usrloc.dump_rows(self.call("ul.dump"), table=self.table)]

    def dialogs(self) -> list[Dialog]:
        return [dialog_of(r) for r in dialogs.list_dialogs(self)]

    def dispatcher(self) -> list[Destination]:
        return [destination_of(r) for r in dispatcher.list_destinations(self)]

    def bans(self) -> list[Ban]:
        rows = htable.dump(self, "ipban")
        if not rows:
            return []
        # htable.dump has no expiry; htable.get does, as server-local wall time, so
        # compare it with the server's own "now" (core.uptime), never with ours.
        now = _server_time(str(system.uptime(self).get("now", "")))
        bans = []
        for i, row in enumerate(rows):
            name, left = _text(row.get("name")), None
            if now is not None and i < self.max_ban_lookups:
                try:
                    expire = _server_time(str(htable.get(self, "ipban", name).get("expire", "")))
                except KamtoolError as exc:
                    if isinstance(exc, (RpcUnavailable, OperationTimeout)):
                        raise
                    expire = None  # gone since the dump
                if expire is not None and expire.year > 1970:
                    left = max(0, int((expire - now).total_seconds()))
            bans.append(Ban(address=name, value=_text(row.get("value")), expires=left))
        return bans

    def pike_top(self) -> list[PikeEntry]:
        """Every source pike tracks, busiest first (the overview's "busiest sources").

        ``ALL`` rather than Kamailio's default ``HOT`` (only those blocked now): pike
        forgets a quiet address within seconds, so the list is the recent senders; kept
        to ``max_sources``.
        """
        entries = [
            PikeEntry(
                address=_text(r.get("ip")),
                hits_prev=_int(r.get("hits_prev")) or 0,
                hits_curr=_int(r.get("hits_curr")) or 0,
                expires=_int(r.get("expires")) or 0,
                status=_text(r.get("status")),
            )
            for r in pike.top(self, "ALL")["rows"]
        ]
        entries.sort(key=lambda e: e.hits_curr + e.hits_prev, reverse=True)
        return entries[: self.max_sources]

    def websockets(self) -> list[WebSocket] | None:
        """The open WebSocket connections, most recently used first; None when the
        server has no WebSocket support (Kamailio without its websocket module)."""
        try:
            answer = websocket.dump(self, "used_asc")
        except RpcError as exc:
            if "method not found" in exc.message.lower():
                return None
            raise
        return [WebSocket(**row) for row in answer["rows"]]

    def close_websocket(self, conn_id: int) -> None:
        websocket.close(self, conn_id)

    def remove_contact(self, aor: str, address: str) -> None:
        usrloc.remove(self, aor, address, table=self.table)

    def end_dialog(self, h_entry: int, h_id: int) -> None:
        dialogs.end(self, h_entry, h_id)

    def set_destination_state(self, set_id: int, uri: str, active: bool, probing: bool) -> None:
        # Kamailio's state string: a(ctive)/i(nactive), plus p to keep probing on.
        state = ("a" if active else "i") + ("p" if probing else "")
        dispatcher.set_state(self, state, set_id, uri)


def rpc_source(url: str | None, *, timeout: float = 5.0, token: str | None = None) -> RpcSource:
    """An :class:`RpcSource` on kamtool's RPC client (``url`` None: the client's defaults)."""
    from kamtool.rpc.client import RpcClient

    client = RpcClient(url, timeout=timeout, token=token)  # thread-safe: one for all workers
    # Without a URL the client tries kamtool's proxy, then Kamailio's FIFO: show the one in use.
    return RpcSource(lambda: client, lambda: client.url)


# --------------------------------------------------------------------------- one sample


SECTIONS = ("contacts", "dialogs", "dispatcher", "bans", "pike_top", "websockets")


@dataclass
class Sample:
    """Everything the monitor shows, read once (``--once --json`` prints this)."""

    target: str
    taken_at: float
    version: str | None = None
    uptime: int | None = None
    stats: dict[str, float] = field(default_factory=dict)
    transactions: dict[str, int] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)
    dialogs: list[Dialog] = field(default_factory=list)
    dispatcher: list[Destination] = field(default_factory=list)
    bans: list[Ban] = field(default_factory=list)
    pike_top: list[PikeEntry] = field(default_factory=list)
    websockets: list[WebSocket] | None = None  # None: the server has no WebSocket support
    errors: dict[str, str] = field(default_factory=dict)  # section -> why it is missing

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def take_sample(source: MonitorSource, *, clock: Callable[[], float] = time.time) -> Sample:
    """Read every section once. An unreachable server raises; a refused section is noted.

    A server without a module (no dialog, no htable ipban ...) answers that section with
    an error: the sample keeps going and records why in ``errors``.
    """
    sample = Sample(target=source.target, taken_at=clock())
    sample.version = source.version()  # RpcUnavailable propagates: nothing to show
    for name in ("uptime", "stats", "transactions", *SECTIONS):
        try:
            setattr(sample, name, getattr(source, name)())
        except (RpcUnavailable, OperationTimeout):
            raise
        except KamtoolError as exc:
            sample.errors[name] = exc.message
    return sample
