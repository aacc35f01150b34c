"""State shared by several kamtool processes (workers, hosts) through Redis.

``[proxy] state = "redis://127.0.0.1:6379/0"`` makes every process a *node* of one
cluster (its own id: host name, pid, random); :class:`SharedState` ties three of the
proxy's in-memory stores to Redis through a :class:`~kamtool.proxy.redis_link.RedisLink`:

* **registrations** (usrloc, db_mode 0-2): every contact saved or removed on a node is
  written to the hash ``<prefix>:loc:<aor>`` (field: the ruid) and announced on the events
  channel; the other nodes put it in their own :class:`~kamtool.proxy.usrloc.LocationStore`
  memory as a synced contact (they never write it to SQL: the node that took the REGISTER
  does, as its db_mode says, so SQL stays the store of record). Lookups stay local and
  cost nothing more; a route script's ``lookup()`` that finds nothing asks Redis for the
  AoR (a contact registered a moment ago on another node), and ``save()`` answers its 200
  once Redis holds the contact, so a REGISTER answered by one node is found by the next
  INVITE on any other. db_mode 3 already shares every contact through SQL: its
  registrations are left there.
* **bans**: items of the shared htables (``ipban``: pike's and the auth-failure bans) live
  in ``<prefix>:ht:<table>:<key>`` with Redis expiring them as the table does, so a source
  banned on one node is dropped by all.
* **dialog profile sizes** (``get_profile_size()``, the call limits): each node keeps its
  own counts in ``<prefix>:prof:<node>`` (refreshed every ``beat`` seconds, so a node that
  died stops counting after three beats) and a profile's size is the local count plus the
  other live nodes'. Dialogs themselves stay with the node that owns them.

While Redis is away every node goes on with what it has (one log line per outage, see
:mod:`kamtool.proxy.redis_link`); changes are replayed when it is back, then a snapshot
brings the node up to date. After an outage Redis is the reference: a contact another
node removed meanwhile goes here too. If Redis came back empty (restarted without
persistence), every node writes its contacts and bans back.

An htable ``flush`` empties the table on every node (one made while Redis is away stays
local); a ``reload`` of a database-backed table is each node's own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from kamtool.proxy.binding import Binding
from kamtool.proxy.htable import Item
from kamtool.proxy.redis_link import IO_TIMEOUT, RedisLink
from kamtool.proxy.remote_counts import RemoteCounts
from kamtool.proxy.shared_sync import (
    KEY_GRACE,
    SCRIPTS,
    SnapshotSync,
    chunks,
    decode_all,
    encode_binding,
    glob,
    profile_field,
    profile_key,
)

log = logging.getLogger(__name__)

PROFILE_DELAY = 0.02  # seconds a profile count waits to be sent with the next ones


def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class SharedState(SnapshotSync):
    """The proxy's stores on Redis (see module docstring). Built and attached by
    :class:`~kamtool.proxy.server.ProxyServer` when ``[proxy] state`` is set."""

    def __init__(
        self,
        url: str,
        loop: asyncio.AbstractEventLoop,
        *,
        prefix: str = "kamtool",
        retry: float = 2.0,
        beat: float = 5.0,
        tables: Iterable[str] = ("ipban",),
        node: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node = node or new_node_id()
        self.prefix = prefix
        self.beat = beat
        self.clock = clock
        self.tables = tuple(tables)
        self.link = RedisLink(
            url,
            loop,
            prefix=prefix,
            node=self.node,
            scripts=SCRIPTS,
            retry=retry,
            on_event=self._event,
            on_sync=self._sync,
            snapshot=self._snapshot,
            on_subscribed=self._collect_changes,
        )
        self.usrloc: Any = None
        self.htables: Any = None
        self.dialogs: Any = None
        self.synced = asyncio.Event()
        # contacts that appeared or went (not refreshes): a REGISTER that made some waits
        # for Redis before its 200 (see kamtool.proxy.ksr.registrar.save)
        self.news = 0
        self._known: set[str] = set()  # ruids of the contacts Redis has, as far as we know
        self._remote = RemoteCounts()  # the other nodes' profile sizes
        self._beat_timer: Any = None
        self._prof_dirty: dict[tuple[str, str | None], int] = {}  # changed, not yet sent
        self._prof_timer: Any = None
        self._timers: Any = None
        self.closed = False  # after close(): the stores' changes are not sent any more
        self.changed_meanwhile: set[str] | None = None  # see SnapshotSync._sync

    # ------------------------------------------------------------------ life cycle

    def attach(self, *, usrloc: Any = None, htables: Any = None, dialogs: Any = None) -> None:
        """The stores other nodes' changes go to. They were built with this object as
        their listener (``LocationStore(shared=)``, ``default_store(on_change=)``,
        ``DialogTracker(shared=)``); a db_mode 3 store shares through its database and
        is left alone."""
        if usrloc is not None and usrloc.db_mode != 3:
            self.usrloc = usrloc
        self.htables = htables
        self.dialogs = dialogs

    async def start(self, timers: Any = None, wait: float = IO_TIMEOUT) -> None:
        """Connect; wait up to ``wait`` s for the first snapshot (a node that starts
        while Redis is away serves anyway, and catches up when it is back)."""
        self.link.start()
        self._timers = timers
        if timers is not None and self.dialogs is not None:
            self._beat_timer = timers.call_later(self.beat, self._beat)
        try:
            await asyncio.wait_for(self.synced.wait(), wait)
        except TimeoutError:
            log.warning("shared state: no snapshot from Redis yet; serving from local state")

    async def close(self) -> None:
        """Write what is queued and disconnect; later changes of the stores stay local."""
        if self._beat_timer is not None:
            self._beat_timer.cancel()
        if self._prof_timer is not None:
            self._prof_timer.cancel()
        if self.dialogs is not None and not self.closed:
            # the other nodes stop counting this one's dialogs now, not at the next beat
            gone = dict.fromkeys([*self.dialogs.profile_sizes(), *self._prof_dirty], 0)
            self._prof_dirty = gone
            self._flush_profiles()
        self.closed = True
        self.link.hand_over()  # (before close: what the loop still holds goes too)
        await asyncio.get_running_loop().run_in_executor(None, self.link.close)

    @property
    def up(self) -> bool:
        return not self.link.down

    def _loc_key(self, aor: str) -> str:
        return f"{self.prefix}:loc:{aor}"

    def _ht_key(self, table: str, key: str) -> str:
        return f"{self.prefix}:ht:{table}:{key}"

    def _prof_key(self, node: str) -> str:
        return f"{self.prefix}:prof:{node}"

    # ------------------------------------------------------------------ registrations

    def ul_changed(self, saved: Binding | None, deleted: list[Binding] | None) -> None:
        """From the location store: a contact saved, or contacts removed."""
        if self.closed:
            return
        if self.changed_meanwhile is not None:  # newer than the snapshot being applied
            self.changed_meanwhile.update(b.aor for b in [saved, *(deleted or ())] if b)
        if saved is not None:
            if saved.ruid not in self._known:
                self._known.add(saved.ruid)
                self.news += 1  # (a refresh changes nothing another node would look for)
            self._ul_write(saved.aor, [saved], [])
        if deleted:
            self.news += 1
            self._known.difference_update(b.ruid for b in deleted)
            now = self.clock()
            by_aor: dict[str, list[str]] = {}
            quiet = True
            for b in deleted:
                by_aor.setdefault(b.aor, []).append(b.ruid)
                quiet = quiet and b.expired(now)
            for aor, ruids in by_aor.items():
                # every node expires contacts on its own clock: no event for those
                self._ul_write(aor, [], ruids, announce=not quiet)

    def _ul_write(
        self, aor: str, saved: list[Binding], ruids: list[str], announce: bool = True
    ) -> None:
        values = {b.ruid: encode_binding(b) for b in saved}
        permanent = any(b.expires == 0 for b in saved)
        until = 0 if permanent else int(max((b.expires for b in saved), default=0)) + KEY_GRACE
        link = self.link
        event = {"k": "ul", "n": self.node, "a": aor, "s": values, "d": ruids}
        args = [link.channel, link.event_text(event) if announce else "", until, len(values)]
        for ruid, text in values.items():
            args += (ruid, text)
        args += ruids
        keys = [self._loc_key(aor)]
        link.write(lambda pipe: link.script(pipe, "ul", keys, args))

    def read_aor(self, aor: str) -> list[Binding]:
        """On the link's thread: the contacts Redis holds for ``aor``."""
        return decode_all(self.link.client.hgetall(self._loc_key(aor)).values())

    def merge_aor(self, aor: str, bindings: list[Binding]) -> None:
        """On the loop: contacts read by :meth:`read_aor` join the local store."""
        if bindings:
            self._apply_ul(aor, bindings, ())

    def _apply_ul(self, aor: str, saved: list[Binding], ruids: list[str]) -> None:
        # Another node's change: into this node's memory only (LocationStore.mirror: no
        # database write, the node that took the REGISTER stored it; no event back).
        self._known.difference_update(ruids)
        self._known.update(b.ruid for b in saved)
        self.usrloc.mirror(saved=saved, removed=[(aor, ruid) for ruid in ruids])

    # ------------------------------------------------------------------ bans (htables)

    def ht_changed(self, table: str, key: str | None, item: Item | None) -> None:
        """From a shared htable: an item set (``item``) or removed (None); ``key`` None:
        the table was flushed (``htable.flush``)."""
        if self.closed:
            return
        link = self.link
        if key is None:  # (a flush while Redis is away stays this node's)
            link.submit(partial(self._flush_table, table))
            return
        event: dict[str, Any] = {"k": "ht", "n": self.node, "t": table, "key": key}
        if item is None:
            value, until = "", 0
        else:
            event.update(v=item.value, x=item.expires)
            value = json.dumps([item.value, item.expires])
            until = int(item.expires) + 1 if item.expires else 0
        keys = [self._ht_key(table, key)]
        args = [link.channel, link.event_text(event), value, until]
        link.write(lambda pipe: link.script(pipe, "ht", keys, args))

    def _flush_table(self, table: str) -> None:
        """On the link's thread: every item of ``table`` goes, and the others are told."""
        client = self.link.client
        head = f"{self.prefix}:ht:{table}:"
        keys = list(client.scan_iter(match=glob(head) + "*", count=1000))
        pipe = client.pipeline(transaction=False)
        for part in chunks(keys, 1000):
            pipe.unlink(*part)
        event = {"k": "ht", "n": self.node, "t": table, "clear": 1}
        pipe.publish(self.link.channel, self.link.event_text(event))
        pipe.execute()

    def _apply_ht(self, table_name: str, key: str, value: Any, expires: float | None) -> None:
        """Another node's item (``expires`` None: removed) into the shared table."""
        if self.htables is not None and table_name in self.tables:
            self.htables.mirror(table_name, key, None if expires is None else value, expires)

    # ------------------------------------------------------------------ dialog profiles

    def profiles_changed(self, sizes: dict[tuple[str, str | None], int]) -> None:
        """From the dialog tracker: this node's new counts of the profiles that changed.
        Sent within ``PROFILE_DELAY`` s, every change of that time in one write (a call
        changes its profiles twice; at hundreds of calls a second one write per change
        would cost more than the calls)."""
        if self.closed:
            return
        self._prof_dirty.update(sizes)
        if self._prof_timer is None and self._timers is not None:
            self._prof_timer = self._timers.call_later(PROFILE_DELAY, self._flush_profiles)
        elif self._timers is None:
            self._flush_profiles()

    def _flush_profiles(self) -> None:
        self._prof_timer = None
        counts = {profile_field(k): max(n, 0) for k, n in self._prof_dirty.items()}
        self._prof_dirty.clear()
        if not counts:
            return
        link = self.link
        event = {"k": "prof", "n": self.node, "c": counts}
        args: list[Any] = [link.channel, link.event_text(event), int(self.beat * 3) + 1]
        args.append(self.node)
        for field_name, n in counts.items():
            args += (field_name, n)
        keys = [self._prof_key(self.node), f"{self.prefix}:nodes"]
        link.write(lambda pipe: link.script(pipe, "prof", keys, args))

    def remote_profile_size(self, key: tuple[str, str | None]) -> int:
        """The other live nodes' dialogs in a profile (see :meth:`profiles_changed`)."""
        return self._remote.size(key)

    def _set_remote(self, node: str, changes: dict[tuple[str, str | None], int]) -> None:
        self._remote.set(node, changes)

    def _replace_remote(self, nodes: dict[str, dict[tuple[str, str | None], int]]) -> None:
        self._remote.replace({n: s for n, s in nodes.items() if n != self.node})

    def _read_profiles(self) -> dict[str, dict[tuple[str, str | None], int]]:
        """On the link's thread: every node's counts. The nodes are a set (no SCAN of the
        keyspace, which holds a key per AoR); a node whose counts expired leaves it."""
        client = self.link.client
        members = f"{self.prefix}:nodes"
        nodes = sorted(client.smembers(members))
        pipe = client.pipeline(transaction=False)
        for node in nodes:
            pipe.hgetall(self._prof_key(node))
        out: dict[str, dict[tuple[str, str | None], int]] = {}
        gone = []
        for node, sizes in zip(nodes, pipe.execute() if nodes else (), strict=True):
            if sizes:
                out[node] = {profile_key(f): int(n) for f, n in sizes.items()}
            else:
                gone.append(node)
        if gone:
            client.srem(members, *gone)
        return out

    def _beat(self) -> None:
        """Every ``beat`` s: keep this node's counts alive; re-read everyone's (a node
        that died drops out)."""
        key, ttl = self._prof_key(self.node), int(self.beat * 3) + 1
        self.link.write(lambda pipe: pipe.expire(key, ttl))

        def read(nodes: Any, error: BaseException | None) -> None:
            if error is None:
                self._replace_remote(nodes)

        self.link.submit(self._read_profiles, read)
        self._beat_timer = self._timers.call_later(self.beat, self._beat)

    # ------------------------------------------------------------------ events, snapshot

    def _event(self, event: dict[str, Any]) -> None:
        """On the loop: another node's change."""
        if event.get("n") == self.node:
            return
        try:
            kind = event["k"]
            if kind == "ul" and self.usrloc is not None:
                saved = decode_all(event["s"].values())
                aor = str(event["a"])
                self._apply_ul(aor, saved, [str(r) for r in event["d"]])
                if self.changed_meanwhile is not None:  # a snapshot is being applied
                    self.changed_meanwhile.add(aor)
            elif kind == "ht" and event.get("clear"):
                table = self.htables.get(str(event["t"])) if self.htables is not None else None
                if table is not None and table.name in self.tables:
                    table.items.clear()
            elif kind == "ht":
                expires = float(event["x"]) if "x" in event else None
                self._apply_ht(str(event["t"]), str(event["key"]), event.get("v"), expires)
            elif kind == "prof" and self.dialogs is not None:
                changes = {profile_key(f): int(n) for f, n in event["c"].items()}
                self._set_remote(str(event["n"]), changes)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("shared state: ignoring a malformed %r event: %s", event.get("k"), exc)


def shared_state_for(config: Any, loop: asyncio.AbstractEventLoop) -> SharedState | None:
    """The :class:`SharedState` of a proxy whose config sets ``state`` (None otherwise);
    the builder passes it to the stores, then :meth:`SharedState.attach` and
    :meth:`SharedState.start`."""
    if not config.state:
        return None
    from kamtool.config import redact_url

    state = SharedState(config.state, loop, prefix=config.state_prefix,
                        retry=config.state_retry, tables=config.shared_tables)  # fmt: skip
    log.info("shared state: %s (prefix %s) as node %s", redact_url(config.state), state.prefix,
             state.node)  # fmt: skip
    if config.db_mode == 3:
        log.info("shared state: db_mode 3 shares registrations through the database")
    return state
