"""SIP Outbound (RFC 5626) and Path (RFC 3327): flows, flow tokens, the registrar's rules.

A *flow* is how a UA reached us: the transport, its address and our socket. Over TCP, TLS
and WebSocket it is a connection the UA keeps open, and the only way back to a UA behind a
NAT or in a browser: nothing may open a new one towards it (RFC 5626 5.3).

* the registrar (:mod:`kamtool.proxy.registrar`) uses :func:`register_check` and
  :func:`reply_headers`, with Kamailio's registrar modparams (``outbound_mode``,
  ``regid_mode``, ``use_path``, ``path_mode``, ``flow_timer``);
* ``lookup()`` keeps, per ``+sip.instance``, the newest registration whose flow is still
  open (:func:`choose_flows`; RFC 5626 section 6 and 7: one flow per instance, and a dead
  flow is no target); when only dead flows are left the request gets 430 Flow Failed;
* an edge proxy puts a *flow token* (:class:`FlowTokens`) into the user part of its Path
  (``KSR.path.add_path``) and Record-Route URIs, with ``;ob``; a request that comes back
  with that Route goes over the flow (``KSR.rr.loose_route``), 430 when it is gone, and a
  token that does not verify is refused (403, a forged flow).

Where Kamailio differs it is said at the place.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote, unquote

from kamtool.proxy.dest import dest_of_uri
from kamtool.sip.errors import ParseError
from kamtool.sip.name_addr import parse_name_addr_list
from kamtool.sip.uri import format_host, parse_uri

Reply = tuple[int, str, list[tuple[str, str]]]

OUTBOUND = "outbound"
CONNECTED = ("tcp", "tls", "ws", "wss")  # transports whose flows are connections
FLOW_FAILED = (430, "Flow Failed")  # RFC 5626 11.5
_MAC_LEN = 10  # bytes of HMAC-SHA256 in a token: 80 bits against forging a flow


@dataclass(frozen=True)
class Flow:
    """One flow: ``proto`` and the UA's ``host``/``port``, ``socket`` our listener."""

    proto: str
    host: str
    port: int
    socket: str

    @property
    def dest(self) -> tuple[str, str, int]:
        return (self.proto, self.host, self.port)

    @property
    def uri(self) -> str:
        """The flow as a ``$du``: the transport says which connection table holds it."""
        transport = "" if self.proto == "udp" else f";transport={self.proto}"
        return f"sip:{format_host(self.host)}:{self.port}{transport}"


def flow_of(endpoint: Any, addr: tuple[str, int]) -> Flow:
    """The flow a message came in on."""
    return Flow(endpoint.proto, addr[0], addr[1], endpoint.listen.socket_str)


class FlowTokens:
    """Flow tokens (RFC 5626 5.2): the flow, signed with HMAC-SHA256, in URL-safe base64
    (only unreserved characters: a valid SIP user part). The key is ``flow_token_key``,
    else random for the process (the flows end with it anyway)."""

    def __init__(self, key: str | bytes = b"") -> None:
        raw = key.encode() if isinstance(key, str) else key
        self._key = raw or os.urandom(32)

    def encode(self, flow: Flow) -> str:
        payload = f"{flow.proto}|{flow.host}|{flow.port}|{flow.socket}".encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_LEN]
        return base64.urlsafe_b64encode(mac + payload).rstrip(b"=").decode()

    def decode(self, token: str) -> Flow | None:
        """The flow of a token of ours; None for anything else (forged, damaged)."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            return None
        mac, payload = raw[:_MAC_LEN], raw[_MAC_LEN:]
        good = hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_LEN]
        if len(mac) != _MAC_LEN or not hmac.compare_digest(mac, good):
            return None
        try:
            proto, host, port, socket = payload.decode().split("|", 3)
            return Flow(proto, host, int(port), socket)
        except ValueError:
            return None


def tokens(parts: Any) -> FlowTokens:
    """The flow tokens of a proxy (``[proxy] flow_token_key``; without one, a random key
    of this process)."""
    return _tokens(getattr(parts.config, "flow_token_key", "") or "")


@functools.lru_cache(maxsize=8)
def _tokens(key: str) -> FlowTokens:
    return FlowTokens(key)


# ------------------------------------------------------------------ message tests


class Tags(NamedTuple):
    """A request's option tags, read once: ``Supported`` and ``Require``."""

    supported: frozenset[str]
    require: frozenset[str]


_NONE: frozenset[str] = frozenset()


def tags_of(req: Any) -> Tags:
    h = req.headers  # most phones send neither header: no scan of their values then
    supported = frozenset(option_tags(req, "supported")) if "supported" in h else _NONE
    require = frozenset(option_tags(req, "require")) if "require" in h else _NONE
    return Tags(supported, require)


def option_tags(req: Any, name: str) -> set[str]:
    """The option tags of the ``Supported``/``Require`` headers (compact ``k`` too)."""
    return {t.strip().lower() for t in req.headers.get_all(name) if t.strip()}


def first_hop(req: Any) -> bool:
    """One Via: the request comes straight from the UA (RFC 5626 5.1)."""
    try:
        return len(req.vias) == 1
    except ParseError:
        return False


def _first_contact(req: Any) -> Any:
    try:
        contacts = req.contacts
    except ParseError:
        return None
    return contacts[0] if contacts and not contacts[0].is_star else None


def outbound_register(req: Any) -> bool:
    """A REGISTER that asks for outbound: ``Supported: outbound`` and a contact with
    ``reg-id`` and ``+sip.instance`` (RFC 5626 4.2)."""
    c = _first_contact(req)
    return (
        c is not None
        and OUTBOUND in option_tags(req, "supported")
        and "reg-id" in c.params
        and "+sip.instance" in c.params
    )


def outbound_dialog(req: Any) -> bool:
    """A dialog-forming request whose Contact URI has ``;ob`` (RFC 5626 4.3, 5.1)."""
    c = _first_contact(req)
    return c is not None and "ob" in (getattr(c.uri, "params", None) or {})


def unquote_instance(value: str | None) -> str | None:
    """``+sip.instance`` as usrloc stores it: without the quotes (``<urn:uuid:...>``)."""
    if value and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1]
    return value or None


# ------------------------------------------------------------------ registrar


def register_check(req: Any, cfg: Any, tags: Tags) -> tuple[Reply | None, bool]:
    """save()'s outbound checks: (the error reply or None, whether ``reg-id`` counts).

    Statuses as Kamailio's registrar: 421 (outbound required, not supported), 420 (the UA
    requires outbound, the registrar has none), 439 (not the first hop and no ``;ob`` Path:
    the edge proxy lacks outbound, RFC 5626 6). Kamailio checks the 421 case only when
    the REGISTER has a Supported header at all; kamtool also refuses one without."""
    supported = tags.supported
    mode = cfg.outbound_mode
    if mode == 2 and OUTBOUND not in supported:
        hdrs = [("Require", OUTBOUND), ("Supported", OUTBOUND)]
        return (421, "Extension Required", hdrs), False
    if mode == 0 and OUTBOUND in tags.require:
        return (420, "Bad Extension", [("Unsupported", OUTBOUND)]), False
    use_regid = True
    if mode and not cfg.regid_mode and not first_hop(req) and not _top_path_has_ob(req):
        c = _first_contact(req)
        if OUTBOUND in supported and c is not None and "reg-id" in c.params:
            return (439, "First Hop Lacks Outbound Support", []), False
        use_regid = False  # the flow is the edge's, not ours: reg-id means nothing here
    return None, use_regid


def _top_path_has_ob(req: Any) -> bool:
    paths = req.headers.get_all("path")
    if not paths:
        return False
    try:
        top = parse_name_addr_list(paths[0], "Path")[0]
    except (ParseError, IndexError):
        return False
    return "ob" in (getattr(top.uri, "params", None) or {})


def path_check(tags: Tags, cfg: Any, path: str | None) -> Reply | None:
    """path_mode 2 (strict, RFC 3327 5.3): a Path the UA does not support gets 420 with
    ``Unsupported: path``. Kamailio stores the contact first and then answers 420; kamtool
    answers before storing anything, as the RFC has it."""
    if not (cfg.use_path and path and cfg.path_mode == 2):
        return None
    if "path" in tags.supported:
        return None
    ob = [h for h in reply_headers(tags, cfg, None) if h[0] != "Path"]  # as Kamailio's 420
    return 420, "Bad Extension", [("Unsupported", "path"), ("Path", path), *ob]


def reply_headers(tags: Tags, cfg: Any, path: str | None) -> list[tuple[str, str]]:
    """The 200's headers after the contacts, in Kamailio's order: Path (path_mode 1 and 2
    when the UA supports it), then Require/Supported: outbound and Flow-Timer."""
    out: list[tuple[str, str]] = []
    if cfg.use_path and path and cfg.path_mode and "path" in tags.supported:
        out.append(("Path", path))
    mode = cfg.outbound_mode
    wants = OUTBOUND in tags.supported or OUTBOUND in tags.require
    if mode == 2 or (mode == 1 and wants):
        out.append(("Require", OUTBOUND))
    if mode:
        out.append(("Supported", OUTBOUND))
    if cfg.flow_timer and (mode == 2 or (mode == 1 and wants)):
        out.append(("Flow-Timer", str(cfg.flow_timer)))
    return out


def path_received(path: str | None) -> str | None:
    """path_use_received: the ``received`` parameter of the first Path URI, unescaped."""
    if not path:
        return None
    try:
        top = parse_name_addr_list(path, "Path")[0]
    except (ParseError, IndexError):
        return None
    value = (getattr(top.uri, "params", None) or {}).get("received")
    return unquote(value) if value else None


# ------------------------------------------------------------------ lookup


def binding_flow(b: Any) -> Flow | None:
    """The flow a binding was registered over when it is a connection of ours (no Path:
    then the flow is the edge's): the socket's transport, the received address (else the
    contact's own)."""
    if b.path or not b.socket:
        return None
    proto = b.socket.split(":", 1)[0].lower()
    if proto not in CONNECTED:
        return None
    try:
        dest = dest_of_uri(parse_uri(b.received or b.contact), proto)
    except ParseError:
        return None
    if dest is None:
        return None
    return Flow(proto, dest[1], dest[2], b.socket)


def choose_flows(bindings: list[Any], alive: Any) -> tuple[list[Any], bool]:
    """(the bindings to fork to, whether outbound flows were dropped as dead).

    An outbound binding (``+sip.instance`` and ``reg-id``) whose connection is closed is no
    target (RFC 5626 5.3: the proxy cannot reach the UA another way), and of the live ones
    of one instance only the newest registration is (RFC 5626 6: one flow per instance at
    a time). Kamailio's lookup() forks to every contact, dead connections included."""
    dead = False
    live = []
    newest: dict[str, Any] = {}  # instance -> its newest live outbound binding
    for b in bindings:
        if _outbound(b):
            flow = binding_flow(b)
            if flow is not None and not alive((flow.host, flow.port)):
                dead = True
                continue
            best = newest.get(_instance_key(b))
            if best is None or b.last_modified > best.last_modified:
                newest[_instance_key(b)] = b
        live.append(b)
    return [b for b in live if not _outbound(b) or newest[_instance_key(b)] is b], dead


def spare_flows(bindings: list[Any], chosen: list[Any], alive: Any) -> list[Any]:
    """The live outbound bindings :func:`choose_flows` left out (older flows of a chosen
    instance), newest first: where a request goes after a 430 (RFC 5626 7)."""
    picked = {id(b) for b in chosen}
    spares = [
        b for b in bindings
        if _outbound(b) and id(b) not in picked
        and ((flow := binding_flow(b)) is None or alive((flow.host, flow.port)))
    ]  # fmt: skip
    return sorted(spares, key=lambda b: b.last_modified, reverse=True)


def _outbound(b: Any) -> bool:
    return bool(b.instance and b.reg_id)


def _instance_key(b: Any) -> str:
    return b.instance.strip('"<>').lower()


# ------------------------------------------------------------------ edge: Path, Record-Route


def path_value(local: Any, user: str = "", params: str = "", received: str | None = None,
               ob: bool = False) -> str:  # fmt: skip
    """A Path header value naming ``local`` (the socket towards the registrar), as the
    path module writes it: ``<sip:user@host:port;transport=tcp;lr;received=...;ob>``, the
    port left out when it is 5060, ``received`` an escaped SIP URI."""
    port = "" if local.port == 5060 and local.proto in ("udp", "tcp") else f":{local.port}"
    transport = "" if local.proto == "udp" else f";transport={local.proto}"
    uri = f"sip:{user + '@' if user else ''}{format_host(local.host)}{port}{transport};lr"
    if received:
        uri += ";received=" + quote(received, safe=":")
    if params:
        uri += params if params.startswith(";") else ";" + params
    if ob:
        uri += ";ob"
    return f"<{uri}>"


def received_of(endpoint: Any, addr: tuple[str, int]) -> str:
    """``sip:IP:port;transport=...``: where a request came from (add_path_received)."""
    transport = "" if endpoint.proto == "udp" else f";transport={endpoint.proto}"
    return f"sip:{format_host(addr[0])}:{addr[1]}{transport}"


def rr_with_token(rr: str, token: str) -> str:
    """A Record-Route value of ours with the flow token as user and ``;ob`` (RFC 5626 5.3)."""
    if not token or not rr.startswith("<sip:") or "@" in rr:
        return rr
    scheme_end = rr.index(":") + 1
    return rr[:scheme_end] + token + "@" + rr[scheme_end:-1] + ";ob>"


def with_flow_rr(build: Any, token: str, is_myself: Any) -> Any:
    """Wrap a transaction's branch builder: our Record-Route entries (one, or two when the
    branch leaves on another socket) carry the flow token, also those made per branch."""

    def build_with_token(stx: Any, target: Any, branch: str) -> Any:
        out = build(stx, target, branch)
        values = out.headers.get_all("record-route")
        fixed = []
        for value in values[:2]:
            if "@" in value or not _ours(value, is_myself):
                break
            fixed.append(rr_with_token(value, token))
        for _ in fixed:
            out.headers.pop_first_value("record-route")
        for value in reversed(fixed):
            out.prepend_record_route(value)
        return out

    return build_with_token


def _ours(value: str, is_myself: Any) -> bool:
    try:
        return bool(is_myself(parse_name_addr_list(value, "Record-Route")[0].uri))
    except (ParseError, IndexError):
        return False
