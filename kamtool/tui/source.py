"""Where the monitor's data comes from: the ``MonitorSource`` interface and its JSON-RPC form.

The monitor never talks to the network itself. It reads a :class:`MonitorSource`;
:class:`RpcSource` implements it on top of any object with a synchronous
``call(method, *params)`` (kamtool's ``RpcClient``, or the capture replayer used by
tests). Every method blocks, so the app calls them from thread workers.

This module must not import textual: ``kamtool monitor --once --json`` uses it alone.

The flatteners below turn Kamailio 5.6's answer shapes (see the reference README,
section 4) into plain rows.
TODO(lead): unify with the parsers in ``kamtool/core`` once they land.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from kamtool.errors import KamtoolError, RpcError, RpcUnavailable

NOT_SET = "[not set]"  # how usrloc prints an unset string

DIALOG_STATES = {
    1: "unconfirmed",
    2: "early",
    3: "confirmed (no ACK)",
    4: "confirmed",
    5: "deleted",
}
DESTINATION_STATES = {"A": "active", "I": "inactive", "D": "disabled", "T": "trying"}


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


# --------------------------------------------------------------------------- interface


@runtime_checkable
class MonitorSource(Protocol):
    """What the monitor reads and the actions it can take. Every call may block.

    Methods raise :class:`~kamtool.errors.RpcUnavailable` when the server cannot be
    reached and :class:`~kamtool.errors.RpcError` when it refuses a request.
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
    def remove_contact(self, aor: str, address: str) -> None: ...
    def end_dialog(self, h_entry: int, h_id: int) -> None: ...
    def set_destination_state(self, set_id: int, uri: str, active: bool, probing: bool) -> None: ...


class RpcCaller(Protocol):
    def call(self, method: str, *params: Any) -> Any: ...


# --------------------------------------------------------------------------- flatteners


def _text(value: Any) -> str:
    return "" if value is None or value == NOT_SET else str(value)


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


def parse_contacts(result: Any) -> list[Contact]:
    """Flatten a full ``ul.dump`` answer into one row per contact."""
    rows: list[Contact] = []
    for dom in (result or {}).get("Domains", []) or []:
        for aor_item in (dom.get("Domain") or {}).get("AoRs", []) or []:
            info = aor_item.get("Info") or {}
            aor = str(info.get("AoR", ""))
            for item in info.get("Contacts", []) or []:
                c = item.get("Contact") or {}
                address, socket = _text(c.get("Address")), _text(c.get("Socket"))
                expires = c.get("Expires")
                q = c.get("Q")
                rows.append(
                    Contact(
                        aor=aor,
                        address=address,
                        expires=expires if isinstance(expires, int) else None,
                        q=None if q in (None, -1) else float(q),
                        call_id=_text(c.get("Call-ID")),
                        cseq=_int(c.get("CSeq")),
                        user_agent=_text(c.get("User-Agent")),
                        received=_text(c.get("Received")),
                        path=_text(c.get("Path")),
                        state=_text(c.get("State")),
                        socket=socket,
                        transport=transport_of(address, socket),
                        instance=_text(c.get("Instance")),
                        reg_id=_int(c.get("Reg-Id")),
                        ruid=_text(c.get("Ruid")),
                        last_modified=_int(c.get("Last-Modified")),
                    )
                )
    return rows


def parse_dialogs(result: Any) -> list[Dialog]:
    """Flatten a ``dlg.list`` answer."""
    rows = []
    for d in result or []:
        state = _int(d.get("state")) or 0
        rows.append(
            Dialog(
                h_entry=int(d["h_entry"]),
                h_id=int(d["h_id"]),
                call_id=_text(d.get("call-id")),
                from_uri=_text(d.get("from_uri")),
                to_uri=_text(d.get("to_uri")),
                state=state,
                state_name=DIALOG_STATES.get(state, str(state)),
                start_ts=_int(d.get("start_ts")) or 0,
                duration=_int(d.get("duration")) or 0,
                timeout=_int(d.get("timeout")) or 0,
                caller_contact=_text((d.get("caller") or {}).get("contact")),
                callee_contact=_text((d.get("callee") or {}).get("contact")),
            )
        )
    return rows


def parse_dispatcher(result: Any) -> list[Destination]:
    """Flatten a ``dispatcher.list`` answer, sets in ascending order (Kamailio reverses them)."""
    rows = []
    for record in (result or {}).get("RECORDS", []) or []:
        s = record.get("SET") or {}
        set_id = int(s.get("ID", 0))
        for target in s.get("TARGETS", []) or []:
            dest = target.get("DEST") or {}
            flags = str(dest.get("FLAGS", ""))
            attrs = dest.get("ATTRS") or {}
            rows.append(
                Destination(
                    set_id=set_id,
                    uri=str(dest.get("URI", "")),
                    flags=flags,
                    state=DESTINATION_STATES.get(flags[:1], flags[:1] or "?"),
                    probing="P" in flags[1:],
                    priority=_int(dest.get("PRIORITY")) or 0,
                    weight=_int(attrs.get("WEIGHT")) if attrs else None,
                    attrs=_text(attrs.get("BODY")) if attrs else "",
                )
            )
    rows.sort(key=lambda d: (d.set_id, -d.priority, d.uri))
    return rows


def parse_stats(result: Any) -> dict[str, float]:
    """``stats.get_statistics all`` lines (``"core:rcv_requests = 77"``) as a dict.

    Keys keep Kamailio's ``group:name`` form: ``{"core:rcv_requests": 77}``.

    ``stats.fetch``-style objects (``{"core.rcv_requests": "77"}``) are accepted too.
    """
    pairs: list[tuple[str, Any]] = []
    if isinstance(result, Mapping):
        pairs = [(k.replace(".", ":", 1), v) for k, v in result.items()]
    else:
        for line in result or []:
            name, sep, value = str(line).partition(" = ")
            if sep:
                pairs.append((name.strip(), value.strip()))
    out: dict[str, float] = {}
    for name, value in pairs:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        out[name] = int(number) if number.is_integer() else number
    return out


def parse_pike(result: Any) -> list[PikeEntry]:
    """Rows of a ``pike.top`` answer."""
    return [
        PikeEntry(
            address=str(e.get("ip_addr", "")),
            hits_prev=_int(e.get("leaf_hits_prev")) or 0,
            hits_curr=_int(e.get("leaf_hits_curr")) or 0,
            expires=_int(e.get("expires")) or 0,
            status=str(e.get("status", "")),
        )
        for e in (result or {}).get("list", []) or []
    ]


def parse_htable_names(result: Any) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of an ``htable.dump`` answer."""
    return [
        (str(slot.get("name", "")), str(slot.get("value", "")))
        for bucket in result or []
        for slot in bucket.get("slot", []) or []
    ]


def _server_time(text: str) -> datetime | None:
    for fmt in ("%a %b %d %H:%M:%S %Y", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except (ValueError, AttributeError):
            continue
    return None


# --------------------------------------------------------------------------- RPC source


class RpcSource:
    """:class:`MonitorSource` over JSON-RPC, with Kamailio 5.6's method names.

    ``client_factory`` builds a client with ``call(method, *params)``; each thread gets
    its own, so workers polling in parallel never share a connection.
    """

    max_ban_lookups = 50  # htable.get per banned address (for its expiry), at most

    def __init__(
        self, client_factory: Callable[[], RpcCaller], target: str, *, table: str = "location"
    ):
        self.target = target
        self.table = table
        self._factory = client_factory
        self._local = threading.local()

    def call(self, method: str, *params: Any) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._factory()
        return client.call(method, *params)

    def version(self) -> str:
        return str(self.call("core.version")).strip()

    def uptime(self) -> int:
        return int(self.call("core.uptime").get("uptime", 0))

    def stats(self) -> dict[str, float]:
        return parse_stats(self.call("stats.get_statistics", "all"))

    def transactions(self) -> dict[str, int]:
        result = self.call("tm.stats")
        return {k: int(v) for k, v in (result or {}).items() if _int(v) is not None}

    def contacts(self) -> list[Contact]:
        return parse_contacts(self.call("ul.dump"))

    def dialogs(self) -> list[Dialog]:
        return parse_dialogs(self.call("dlg.list"))

    def dispatcher(self) -> list[Destination]:
        return parse_dispatcher(self.call("dispatcher.list"))

    def bans(self) -> list[Ban]:
        entries = parse_htable_names(self.call("htable.dump", "ipban"))
        if not entries:
            return []
        # htable.dump has no expiry; htable.get does, as server-local wall time, so
        # compare it with the server's own "now" (core.uptime), never with ours.
        now = _server_time(str(self.call("core.uptime").get("now", "")))
        bans = []
        for i, (name, value) in enumerate(entries):
            left = None
            if now is not None and i < self.max_ban_lookups:
                try:
                    item = self.call("htable.get", "ipban", name).get("item", {})
                except RpcError:
                    item = {}
                expire = _server_time(str(item.get("expire", "")))
                if expire is not None and expire.year > 1970:
                    left = max(0, int((expire - now).total_seconds()))
            bans.append(Ban(address=name, value=value, expires=left))
        return bans

    def pike_top(self) -> list[PikeEntry]:
        return parse_pike(self.call("pike.top"))

    def remove_contact(self, aor: str, address: str) -> None:
        self.call("ul.rm_contact", self.table, aor, address)

    def end_dialog(self, h_entry: int, h_id: int) -> None:
        self.call("dlg.end_dlg", h_entry, h_id)

    def set_destination_state(self, set_id: int, uri: str, active: bool, probing: bool) -> None:
        # Kamailio's state string: a(ctive)/i(nactive), plus p to keep probing on.
        state = ("a" if active else "i") + ("p" if probing else "")
        self.call("dispatcher.set_state", state, set_id, uri)


def rpc_source(url: str | None, *, timeout: float = 5.0, token: str | None = None) -> RpcSource:
    """An :class:`RpcSource` on kamtool's RPC client (``url`` None: the client's default)."""
    try:
        from kamtool.rpc.client import RpcClient
    except ImportError as exc:  # the client is written in parallel; say so plainly
        raise RpcUnavailable("kamtool's JSON-RPC client is not available") from exc

    def factory() -> RpcCaller:
        return RpcClient(url, timeout=timeout, token=token)

    target = url or getattr(RpcClient, "default_url", None) or "default RPC endpoint"
    return RpcSource(factory, str(target))


# --------------------------------------------------------------------------- one sample


SECTIONS = ("contacts", "dialogs", "dispatcher", "bans", "pike_top")


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
        except RpcUnavailable:
            raise
        except KamtoolError as exc:
            sample.errors[name] = exc.message
    return sample
