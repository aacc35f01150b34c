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

from typing import Any, Protocol

from kamtool.proxy.binding import Binding

__all__ = ["LocationReplication", "RemoteLocation"]


class LocationReplication(Protocol):
    """What the store and the registrar (:mod:`kamtool.proxy.ksr.registrar`) use.

    ``up`` says whether a remote store is there to wait for and to ask; only then is
    the listener a :class:`RemoteLocation`. The workers' copy has none (``up`` is always
    False): its copy has left before the REGISTER's 200.
    """

    news: int  # changes another node would look for (new or removed contacts), so far
    up: bool  # a remote store is there and reachable

    def ul_changed(self, saved: Binding | None, deleted: list[Binding] | None) -> None:
        """A contact saved (``saved``), or contacts removed (``deleted``), by this store."""
        ...


class RemoteLocation(LocationReplication, Protocol):
    """A listener backed by a remote store (the Redis state)."""

    link: Any  # the store's worker: ``wait_db(job, worker=link)``, ``link.flushed``

    def read_aor(self, aor: str) -> list[Binding]:
        """On the link's thread: the remote store's contacts of ``aor``."""
        ...

    def merge_aor(self, aor: str, bindings: list[Binding]) -> None:
        """Take ``bindings`` read from the remote store into the local one."""
        ...
