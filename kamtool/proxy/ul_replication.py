"""The interface through which registrations leave one location store for others: the
``shared`` listener of :class:`~kamtool.proxy.usrloc.LocationStore`.

Two implement it: the copy between the workers of one ``kamtool serve --workers N``
(:class:`kamtool.proxy.workers.shared_location.SharedLocation`, without Redis) and the
Redis state backend shared by workers and hosts (``[proxy] state``). The store tells it
of every change it made itself (db_mode 0-2); what the others changed comes back through
:meth:`LocationStore.mirror <kamtool.proxy.usrloc.LocationStore.mirror>`, which changes
memory only (the change was stored where it was made) and tells nobody.
"""

from __future__ import annotations

from typing import Protocol

from kamtool.proxy.binding import Binding

__all__ = ["LocationReplication"]


class LocationReplication(Protocol):
    def ul_changed(self, saved: Binding | None, deleted: list[Binding] | None) -> None:
        """A contact saved (``saved``), or contacts removed (``deleted``), by this store."""
        ...
