"""Kamailio 5.6's dispatcher as pure code: no sockets, no clock, no event loop.

* :mod:`.hashing`: the hashes algorithms 0, 1, 2, 3, 5 and 7 select with;
* :mod:`.attrs`: destination attributes (``weight=50;duid=a;maxload=20 ...``), parsed as
  the module reads them and validated strictly for provisioning;
* :mod:`.latency`: the latency statistics the module keeps per destination;
* :mod:`.engine`: sets, states, the selection algorithms 0..13, failover lists, call
  load, relative weights;
* :mod:`.resolve`: what to look up in DNS for a destination, and the resolver interface
  the proxy implements (``kamtool/proxy/ds_dns.py``).

The proxy's dispatcher step and the ``KSR.dispatcher`` functions drive an
:class:`~kamtool.core.dispatch.engine.DsEngine` with values they take from the request.
"""
