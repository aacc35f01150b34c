"""How a node catches up with Redis, and how the shared state is written there.

:class:`SnapshotSync` is the half of :class:`~kamtool.proxy.shared_state.SharedState`
that runs after each (re)connection: read everything the node mirrors (on the link's
thread), then merge it into the local stores (on the loop), as the module docstring of
:mod:`kamtool.proxy.shared_state` describes. The codec functions say how contacts,
profile keys and key patterns look in Redis.
"""

from __future__ import annotations

import json
import logging
import math
import operator
from collections.abc import Iterable, Iterator
from dataclasses import fields
from typing import Any

from kamtool.proxy.binding import CS_SYNC, Binding

log = logging.getLogger("kamtool.proxy.shared_state")  # one logger for the whole feature

_FIELDS = tuple(f.name for f in fields(Binding) if f.name != "state")
# what each column may hold ("str | None" ...): another node's data is checked before
# it reaches lookups that compare and format it
_KINDS = {
    f.name: (str(f.type).removesuffix(" | None"), str(f.type).endswith("| None"))
    for f in fields(Binding)
}
# per column, in order: the Python types a value may have (a float column takes an int)
_TYPES = tuple(
    {"str": (str,), "int": (int,), "float": (float, int)}[_KINDS[name][0]]
    + ((type(None),) if _KINDS[name][1] else ())
    for name in _FIELDS
)
_values_of = operator.attrgetter(*_FIELDS)
SYNC_STEP = 2000  # AoRs a snapshot brings into the store per pass of the loop
_DONE = object()
KEY_GRACE = 60  # seconds a location key outlives its last contact's expiry (a backstop)
READ_CHUNK = 500  # keys per pipelined read of a snapshot


# The writes, one Lua script each (see kamtool.proxy.redis_link): ARGV[1] is the events
# channel, ARGV[2] the event to publish ("" none).
SCRIPTS = {
    # KEYS[1] an AoR's hash; ARGV[3] until when the key lives (unix s; 0: for ever), ARGV[4]
    # n contacts saved, then n (ruid, contact) pairs, then the ruids removed. A new key, or
    # one that would die sooner, lives until then: the key outlives its contacts.
    "ul": """
local key, n = KEYS[1], tonumber(ARGV[4])
local new = redis.call('EXISTS', key) == 0
local i = 5
for _ = 1, n do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  i = i + 2
end
for j = i, #ARGV do redis.call('HDEL', key, ARGV[j]) end
local untl = tonumber(ARGV[3])
if n > 0 and untl == 0 then
  redis.call('PERSIST', key)
elseif n > 0 then
  local ttl = redis.call('TTL', key)
  if new or (ttl >= 0 and tonumber(redis.call('TIME')[1]) + ttl < untl) then
    redis.call('EXPIREAT', key, untl)
  end
end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return 0
""",
    # KEYS[1] an htable item; ARGV[3] its value ("" removes it), ARGV[4] expires (unix s, 0 never)
    "ht": """
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
elseif tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[1], ARGV[3], 'EXAT', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
""",
    # KEYS[1] a node's profile counts, KEYS[2] the set of nodes that have some; ARGV[3]
    # their time to live (s), ARGV[4] the node, then (field, count) pairs, 0 removes one
    "prof": """
redis.call('SADD', KEYS[2], ARGV[4])
for i = 5, #ARGV, 2 do
  if ARGV[i + 1] == '0' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return 0
""",
}


def encode_binding(b: Binding) -> str:
    """A contact as Redis keeps it: its ``location`` columns, a JSON list."""
    return json.dumps(_values_of(b), separators=(",", ":"))


def decode_binding(text: str) -> Binding:
    """A contact as another node wrote it (ValueError when malformed: every column is
    checked, so what reaches the lookups compares and formats as a local contact)."""
    values = json.loads(text)
    if type(values) is not list or len(values) != len(_FIELDS):
        raise ValueError("not a contact")
    for value, types, name in zip(values, _TYPES, _FIELDS, strict=True):
        # type() is: bool is an int subclass, and not a column's type
        if type(value) not in types or (type(value) is float and not math.isfinite(value)):
            raise ValueError(f"contact field {name}: {value!r}")
    b = Binding(*values)
    b.state = CS_SYNC
    return b


def profile_field(key: tuple[str, str | None]) -> str:
    """A profile key (name, value or None) as a hash field: ``name`` or ``name<TAB>value``."""
    name, value = key
    return name if value is None else f"{name}\t{value}"


def profile_key(text: str) -> tuple[str, str | None]:
    name, tab, value = text.partition("\t")
    return (name, value if tab else None)


def glob(text: str) -> str:
    """``text`` matched literally by SCAN's MATCH."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def decode_all(texts: Iterable[str]) -> list[Binding]:
    out = []
    for text in texts:
        try:
            out.append(decode_binding(text))
        except (TypeError, ValueError):
            log.warning("shared state: ignoring a malformed contact in Redis")
    return out


def chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class SnapshotSync:
    """The snapshot and merge methods of :class:`~kamtool.proxy.shared_state.SharedState`
    (a mixin: they use its stores, link and write methods)."""

    usrloc: Any
    htables: Any
    dialogs: Any
    tables: tuple[str, ...]
    prefix: str
    link: Any
    synced: Any
    clock: Any
    node: str
    _apply_ul: Any
    _apply_ht: Any
    _ul_write: Any
    _read_profiles: Any
    _replace_remote: Any
    ht_changed: Any
    changed_meanwhile: set[str] | None
    profiles_changed: Any

    def _snapshot(self, client: Any) -> dict[str, Any]:
        """On the link's thread: everything this node mirrors, as Redis has it now."""
        snap: dict[str, Any] = {"at": self.clock(), "loc": {}, "ht": {}, "prof": None}
        if self.usrloc is not None:
            head = f"{self.prefix}:loc:"
            keys = list(client.scan_iter(match=glob(head) + "*", count=1000))
            for part in chunks(keys, READ_CHUNK):
                pipe = client.pipeline(transaction=False)
                for k in part:
                    pipe.hgetall(k)
                for k, values in zip(part, pipe.execute(), strict=True):
                    snap["loc"][k[len(head) :]] = decode_all(values.values())
        for table in self.tables:
            head = f"{self.prefix}:ht:{table}:"
            keys = list(client.scan_iter(match=glob(head) + "*", count=1000))
            values = client.mget(keys) if keys else []
            items = snap["ht"].setdefault(table, {})
            for k, v in zip(keys, values, strict=True):
                if v is not None:
                    items[k[len(head) :]] = json.loads(v)
        if self.dialogs is not None:
            snap["prof"] = self._read_profiles()
        return snap

    def _sync(self, snap: dict[str, Any], fresh: bool) -> None:
        """On the loop: catch up with Redis after (re)connecting (see module docstring),
        ``SYNC_STEP`` AoRs per pass of the loop: 100k contacts take about a second of
        Python, which must not stop the SIP traffic."""
        if fresh:
            log.info("shared state: node %s joined %s", self.node, self.link.prefix)
        if self.changed_meanwhile is None:
            self.changed_meanwhile = set()
        self._drive(self._sync_steps(snap, fresh))

    def _collect_changes(self) -> None:
        """Subscribed again: from now on (before the snapshot is even read) the AoRs
        changed here or by an event are newer than what the snapshot may say of them."""
        self.changed_meanwhile = set()

    def _drive(self, steps: Iterator[None]) -> None:
        for _ in range(SYNC_STEP):
            if next(steps, _DONE) is _DONE:
                return
        self.link.loop.call_soon(self._drive, steps)

    def _sync_steps(self, snap: dict[str, Any], fresh: bool) -> Iterator[None]:
        if self.usrloc is not None:
            yield from self._sync_usrloc(snap["loc"], snap["at"], fresh)
        if self.htables is not None:
            self._sync_tables(snap["ht"], fresh)
        if self.dialogs is not None and snap["prof"] is not None:
            self._replace_remote(snap["prof"])
            mine = self.dialogs.profile_sizes()
            if fresh and mine:
                self.profiles_changed(mine)
        self.changed_meanwhile = None
        self.synced.set()

    def _sync_usrloc(
        self, remote: dict[str, list[Binding]], at: float, fresh: bool
    ) -> Iterator[None]:
        ul = self.usrloc
        push: list[Binding] = []
        for aor in ul.aors():
            yield
            theirs = {b.ruid for b in remote.get(aor, ())}
            missing = [b for b in ul.contacts_of(aor) if b.ruid not in theirs]
            if fresh:  # Redis lacks them: it was empty, or this node is new
                push.extend(missing)
            elif missing and aor not in self.changed_meanwhile:
                # removed elsewhere meanwhile (unless changed here since)
                self._apply_ul(aor, [], [b.ruid for b in missing if b.last_modified < at])
        for aor, bindings in remote.items():
            yield
            if aor not in self.changed_meanwhile:  # (an event newer than the snapshot)
                self._apply_ul(aor, bindings, [])
        for b in push:
            self._ul_write(b.aor, [b], [])
        if push:
            log.info("shared state: %d local contacts written to Redis", len(push))

    def _sync_tables(self, remote: dict[str, dict[str, Any]], fresh: bool) -> None:
        for name in self.tables:
            table = self.htables.get(name)
            if table is None:
                continue
            theirs = remote.get(name, {})
            for key, pair in theirs.items():
                try:
                    self._apply_ht(name, key, pair[0], float(pair[1]))
                except (TypeError, ValueError, IndexError):
                    log.warning("shared state: ignoring a malformed %s item", name)
            if fresh:
                for key, item in list(table.items.items()):
                    if key not in theirs:
                        self.ht_changed(name, key, item)
