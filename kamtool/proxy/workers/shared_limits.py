"""Call limits and bans shared by the workers when there is no Redis.

Kamailio keeps dialog profiles and htables in shared memory, so a cfg's
``get_profile_size()`` counts the calls of every child and a ban one child sets in
``$sht(ipban=>...)`` stops the source in all of them. Each kamtool worker has its own
dialogs and tables; without this, ``max_calls_per_caller = 1`` would let a caller make one
call per worker, and a source pike banned on one worker would go on through the others.

* **dialog profile sizes**: a worker sends its own new count of each profile that changed
  (absolute numbers, so a lost or repeated datagram does no lasting harm), batched for
  :data:`DELAY` s as the Redis state does; each worker adds the others' counts to its own
  (:meth:`SharedLimits.remote_profile_size`, the dialog tracker's ``shared``). A restarted
  worker's old counts are forgotten (its dialogs went with it).
* **shared htables** (``[proxy] state_tables``, ``ipban`` by default, and ``authfail``,
  the failed authentications the default route counts): every item set or removed, and
  a flush, is copied to the others (the tables' ``on_change``). Two workers counting the
  same key at the same moment may lose one count; a ban is a set, never lost.

Pike's own counting stays per worker (a source's datagrams reach one worker, since the
kernel spreads by the sender's address; a flood from many ports of one address is counted
in parts until one worker bans it, and then the ban holds in all).

:class:`SharedLimits` implements the same listener interface as the Redis state
(:mod:`kamtool.proxy.shared_state`): ``profiles_changed``/``remote_profile_size`` and
``ht_changed``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from kamtool.proxy.remote_counts import ProfileKey, RemoteCounts
from kamtool.proxy.workers.channel import PROFILES, TABLES, Channel

log = logging.getLogger(__name__)

DELAY = 0.02  # seconds a profile count waits to be sent with the next ones
DATAGRAM_BYTES = 32_768  # profile counts per datagram, about (the channel takes 128 KiB)



class SharedLimits:
    """One worker's end (see module docstring)."""

    def __init__(self, channel: Channel, loop: asyncio.AbstractEventLoop, tables: tuple[str, ...]):
        self.channel = channel
        self.loop = loop
        self.tables = tables
        self.index = channel.ctx.index
        self.htables: Any = None
        self.dialogs: Any = None
        self._remote = RemoteCounts()  # the other workers' profile counts
        self._dirty: dict[ProfileKey, int] = {}
        self._flush_handle: asyncio.TimerHandle | None = None

    def serve(self, htables: Any, dialogs: Any) -> None:
        """Apply the other workers' changes to ``htables`` and count their dialogs."""
        self.htables = htables
        self.dialogs = dialogs
        self.channel.on(PROFILES, self._profiles_received)
        self.channel.on(TABLES, self._table_received)

    # ------------------------------------------------------------------ dialog profiles

    def profiles_changed(self, sizes: dict[ProfileKey, int]) -> None:
        """From the dialog tracker: this worker's new counts of the profiles that changed."""
        self._dirty.update(sizes)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_later(DELAY, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        entries = [json.dumps([p, v, max(n, 0)], separators=(",", ":"))
                   for (p, v), n in self._dirty.items()]  # fmt: skip
        self._dirty.clear()
        # in parts that fit a datagram: thousands of dialogs may end in one timer tick, and
        # a profile value (a caller's user) is as long as the caller made it
        part: list[str] = []
        size = 0
        for entry in entries:
            if part and size + len(entry) > DATAGRAM_BYTES:
                self._send_counts(part)
                part, size = [], 0
            part.append(entry)
            size += len(entry) + 1
        if part:
            self._send_counts(part)

    def _send_counts(self, entries: list[str]) -> None:
        payload = f'{{"w":{self.index},"c":[{",".join(entries)}]}}'
        self.channel.broadcast(PROFILES, payload.encode())

    def remote_profile_size(self, key: ProfileKey) -> int:
        """The other workers' dialogs in a profile."""
        return self._remote.size(key)

    def _profiles_received(self, data: bytes) -> None:
        msg = json.loads(data)
        self.set_counts(int(msg["w"]), {(str(p), v): int(n) for p, v, n in msg["c"]})

    def set_counts(self, worker: int, changes: dict[ProfileKey, int]) -> None:
        """Worker ``worker``'s counts of some profiles are now ``changes``."""
        if worker != self.index:
            self._remote.set(worker, changes)

    def forget(self, worker: int) -> None:
        """Worker ``worker`` restarted: the dialogs it counted are gone."""
        self._remote.forget(worker)

    # ------------------------------------------------------------------ shared htables

    def ht_changed(self, table: str, key: str | None, item: Any) -> None:
        """From a shared htable: an item set, removed (``item`` None) or every item
        (``key`` None: a flush)."""
        if key is None:
            change: dict[str, Any] = {"t": table, "clear": 1}
        elif item is None:
            change = {"t": table, "k": key}
        else:
            change = {"t": table, "k": key, "v": item.value, "x": item.expires}
        self.channel.broadcast(TABLES, json.dumps(change, separators=(",", ":")).encode())

    def _table_received(self, data: bytes) -> None:
        change = json.loads(data)
        self.apply_item(change["t"], change.get("k"), change.get("v"), change.get("x"),
                        clear=bool(change.get("clear")))  # fmt: skip

    def apply_item(self, name: str, key: str | None, value: Any, expires: Any,
                   clear: bool = False) -> None:  # fmt: skip
        """Another worker's change, into this worker's table only (no echo back);
        ValueError for a value no htable holds (the channel logs it)."""
        table = self.htables.get(name) if self.htables is not None else None
        if table is None or name not in self.tables:
            return
        if clear:
            table.items.clear()
        elif key is not None:
            self.htables.mirror(name, key, value, expires)

    # ------------------------------------------------------------------ restarts

    def snapshot(self) -> dict[str, Any]:
        """This worker's counts and shared tables (a restarted worker's start-up copy)."""
        mine = self.dialogs.profile_sizes() if self.dialogs is not None else {}
        tables = {}
        for name in self.tables:
            table = self.htables.get(name) if self.htables is not None else None
            if table is not None:
                tables[name] = [[k, i.value, i.expires] for k, i in table.items.items()]
        return {"w": self.index, "c": [[p, v, n] for (p, v), n in mine.items()], "t": tables}

    def load_snapshot(self, snap: dict[str, Any]) -> None:
        self.set_counts(int(snap["w"]), {(str(p), v): int(n) for p, v, n in snap["c"]})
        for name, items in (snap.get("t") or {}).items():
            for key, value, expires in items:
                self.apply_item(name, key, value, expires)
