"""kamtool's embedded SIP proxy (``kamtool serve``): the asyncio shell around :mod:`kamtool.sip`.

Modules, from the wire inwards:

* ``config``: :class:`ProxyConfig` (CLI flags + ``[proxy]`` TOML), ``Listen``;
* ``server``: :class:`ProxyServer` (lifecycle, signals, RPC server start) and ``run()``;
* ``transport``: UDP/TCP asyncio protocols, sending by address;
* ``timers``: the single timer heap on ``loop.call_at``;
* ``routing``: the default route (Kamailio's request_route of the reference cfg);
* ``codec``: everything the route needs from the SIP core (read fields, build messages);
* ``tm``: stateful forwarding (server tx, forked client branches, CANCEL, timers);
* ``auth``, ``registrar``, ``usrloc``, ``dialogs``, ``permissions``: the modules of the
  same names in Kamailio; ``stats``, ``htable``, ``cfg``: state read by the RPC server.

Import the submodules directly (``from kamtool.proxy.server import ProxyServer``); this
package stays empty so that importing one module does not import them all.
"""
