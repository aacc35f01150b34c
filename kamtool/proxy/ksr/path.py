"""``KSR.path``: Kamailio's path module for an edge proxy (RFC 3327), with the outbound
module's flow tokens (RFC 5626): ``add_path()`` and ``add_path_received()`` in their
``(user)`` and ``(user, params)`` forms, under Kamailio's KEMI names.

The Path URI names the socket that reaches the next hop (``$du``, else the R-URI), so
set ``$du`` first. For a REGISTER that asks for outbound (``Supported: outbound``, a
contact with ``reg-id`` and ``+sip.instance``) the user part is a flow token of the
connection it came over, and ``;ob`` is added when we are its first hop: what the
registrar later sends along that Path comes back to us and goes over that flow
(``KSR.rr.loose_route``). ``received=`` (add_path_received) is followed by loose_route
as the path module's ``use_received`` does. Return codes: 1 added, -1 not.
"""

from __future__ import annotations

from typing import Any

from kamtool.proxy import outbound
from kamtool.proxy.dest import dest_of_uri
from kamtool.proxy.ksr.context import state
from kamtool.sip.errors import ParseError
from kamtool.sip.uri import parse_uri

__all__ = ["path_functions"]


def _add(user: str, params: str, received: bool) -> int:
    ctx = state.ctx
    r = ctx.parts
    msg = ctx.msg
    try:
        dest = dest_of_uri(parse_uri(ctx.dst_uri or msg.uri_text))
    except ParseError:
        dest = None
    local = r.wire.local_socket(dest) if dest is not None else ctx.endpoint.listen
    if local is None:
        return -1
    ob = False
    if not user and msg.method == "REGISTER" and outbound.outbound_register(msg):
        user = outbound.tokens(r).encode(outbound.flow_of(ctx.endpoint, ctx.addr))
        ob = outbound.first_hop(msg)
    rcv = outbound.received_of(ctx.endpoint, ctx.addr) if received else None
    msg.headers.prepend("Path", outbound.path_value(local, str(user), str(params), rcv, ob))
    return 1


def add_path(user: str = "", params: str = "") -> int:
    """``Path: <sip:[user@]our-address;lr[;params]>`` on top of the request's Path headers."""
    return _add(user, params, received=False)


def add_path_received(user: str = "", params: str = "") -> int:
    """As :func:`add_path`, with ``received=`` the address the request came from."""
    return _add(user, params, received=True)


def path_functions() -> dict[str, Any]:
    return dict(add_path=add_path, add_path_user=add_path,
                add_path_user_params=add_path,
                add_path_received=add_path_received,
                add_path_received_user=add_path_received,
                add_path_received_user_params=add_path_received)  # fmt: skip
