"""The table snapshots the RPC methods serve (``address``, ``trusted``, ``domain``,
``dispatcher``): the proxy's own (:mod:`kamtool.proxy.tables`), so that RPC reloads and
routing see the same rows."""

from __future__ import annotations

from kamtool.proxy.tables import AddressTable, Destination, DispatcherTable, DomainTable

__all__ = ["AddressTable", "DispatcherTable", "DomainTable", "Destination"]
