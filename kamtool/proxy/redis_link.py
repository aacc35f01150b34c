"""The proxy's connection to Redis, off the event loop: one writer thread, one listener.

:class:`RedisLink` is the I/O half of the shared state (:mod:`kamtool.proxy.shared_state`
decides what is stored). It follows :mod:`kamtool.proxy.dbworker`'s pattern, for the same
reasons: the loop is the bottleneck, so it only puts jobs on a queue.

* **Writer thread.** Jobs run in submission order. Writes (:meth:`RedisLink.write`: a
  function that adds commands to a pipeline) made in one pass of the loop reach the
  thread together, and what is queued together goes to Redis in one pipeline: a burst of
  REGISTERs costs one wake-up and one round trip. A change and the ``PUBLISH`` that
  announces it are one Lua script (:meth:`RedisLink.script`): atomic, so every node sees
  changes in the order Redis made them, and one command (redis-py spends tens of
  microseconds of the proxy's CPU per command; a ``MULTI`` of five cost 200 us).
  Reads (:meth:`RedisLink.submit`) run on the same thread, so a read sees every write
  queued before it; :attr:`RedisLink.flushed` waits for the writes alone.
* **Listener thread.** Subscribed to the events channel; every event goes to the loop
  (``on_event``). After each (re)subscription it asks the writer for a snapshot
  (``snapshot(client)``, handed to ``on_sync(snapshot, fresh)``), so whatever was missed
  while disconnected is caught up. ``fresh`` is True when Redis holds none of the data
  this node saw before (first contact, or Redis restarted empty: the generation key
  ``<prefix>:gen`` is new), so the owner pushes its local state back.

An outage, as the database's: the first failure logs one line; while Redis is away,
reads fail at once with :class:`StateDown`, writes are kept (up to ``MAX_PENDING``,
oldest dropped first) and replayed in order when Redis answers again, which is logged
once with the outage's length; local state goes on meanwhile. The pair of threads is one
episode: whichever notices first logs it.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Done = Callable[[Any, BaseException | None], None]
MAX_PENDING = 100_000  # writes kept through an outage (a REGISTER flood must not eat memory)
IO_TIMEOUT = 2.0  # seconds: a silent Redis fails the command instead of hanging the thread


_CLOSE = ("close", None, None)


class StateDown(Exception):
    """Redis is known to be unreachable; the job was not tried."""


def connection_errors() -> tuple[type[BaseException], ...]:
    """What redis-py raises when the connection is gone (and OSError beneath it)."""
    from redis import exceptions

    return (exceptions.ConnectionError, exceptions.TimeoutError, OSError)


class RedisLink:
    """Queue of Redis work plus the events subscription (see module docstring)."""

    def __init__(
        self,
        url: str,
        loop: asyncio.AbstractEventLoop,
        *,
        prefix: str = "kamtool",
        node: str = "",
        scripts: dict[str, str] | None = None,
        retry: float = 2.0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        on_sync: Callable[[Any, bool], None] | None = None,
        snapshot: Callable[[Any], Any] | None = None,
        on_subscribed: Callable[[], None] | None = None,
    ) -> None:
        import redis

        self.url = url
        self.loop = loop
        self.prefix = prefix
        self.channel = f"{prefix}:events"
        self._own = f"{node}\n"  # the start of this node's events (skipped unread)
        self.scripts = dict(scripts or {})
        self._sha = {k: hashlib.sha1(v.encode()).hexdigest() for k, v in self.scripts.items()}
        self.retry = retry
        self.on_event = on_event
        self.on_sync = on_sync
        self.snapshot = snapshot
        self.on_subscribed = on_subscribed  # (on the loop, before that subscription's events)
        self.outages = 0
        self.dropped = 0  # writes lost because the pending list was full
        self.client = redis.Redis.from_url(
            url,
            decode_responses=True,
            encoding_errors="replace",  # junk on the channel is a malformed event, not a crash
            socket_timeout=IO_TIMEOUT,
            socket_connect_timeout=IO_TIMEOUT,
            retry_on_timeout=False,
            health_check_interval=IO_TIMEOUT * 5,  # a quiet subscription notices a dead link
        )
        self._errors = connection_errors()
        from redis.exceptions import NoScriptError

        self._noscript = NoScriptError
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending: collections.deque[Callable[[Any], Any]] = collections.deque()
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_try = 0.0
        self._generation: str | None = None
        self._held: Any = None  # a job taken from the queue while batching writes
        self._writes: list[tuple[Callable[[Any], Any] | None, Done | None]] = []  # loop's
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ on the loop

    @property
    def down(self) -> bool:
        """True while an outage is known."""
        return self._down_since is not None

    def start(self) -> None:
        if self._threads:
            return
        for target, name in ((self._write_loop, "kamtool-redis"), (self._listen, "kamtool-sub")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def write(self, fn: Callable[[Any], Any] | None, done: Done | None = None) -> None:
        """Queue ``fn(pipeline)`` (it adds commands); kept and replayed through an outage.
        ``done(None, error)`` on the loop: ``error`` is :class:`StateDown` when the write
        waits for Redis to come back. On the loop only: the writes of one pass of the
        loop go to the thread together (one wake-up, one pipeline)."""
        self._writes.append((fn, done))
        if len(self._writes) == 1:
            self.loop.call_soon(self.hand_over)

    def hand_over(self) -> None:
        """Give the writes queued on the loop to the writer thread (on the loop)."""
        if self._writes:
            batch, self._writes = self._writes, []
            self._queue.put(("w", batch, None))

    def submit(self, job: Callable[[], Any], done: Done | None = None) -> None:
        """Run ``job()`` (it uses :attr:`client`) on the writer thread, after the writes
        queued before it; ``done(result, error)`` on the loop (the interface of
        :mod:`kamtool.proxy.dbworker`, so a route script waits on it with ``wait_db``)."""
        self.hand_over()
        self._queue.put(("r", job, done))

    @property
    def flushed(self) -> Any:
        """A worker (``submit(job, done)``, :mod:`kamtool.proxy.dbworker`'s interface)
        whose jobs are not run: ``done`` comes once the writes queued before are in Redis
        (``StateDown`` when they wait for it), e.g. ``wait_db(None, worker=link.flushed)``."""
        return _Barrier(self)

    def event_text(self, event: dict[str, Any]) -> str:
        """``event`` as published: this node's id, a newline, the JSON (so the listener
        skips the node's own events without decoding them)."""
        return self._own + json.dumps(event, separators=(",", ":"))

    def script(self, pipe: Any, name: str, keys: list[str], args: list[Any]) -> None:
        """Add a call of the Lua script ``name`` (given at construction) to a pipeline;
        its first two arguments are the channel and an event text ("" for none)."""
        pipe.evalsha(self._sha[name], len(keys), *keys, *args)

    def close(self, timeout: float = 5.0) -> None:
        """Finish what is queued (up to ``timeout`` s) and stop both threads; call it off
        the loop."""
        self._stop.set()
        self._queue.put(_CLOSE)
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        try:
            self.client.close()
        except Exception:
            log.debug("closing the Redis client failed", exc_info=True)

    # ------------------------------------------------------------------ outage bookkeeping

    def _went_down(self, exc: BaseException) -> None:
        with self._lock:
            self._next_try = time.monotonic() + self.retry
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
            self.outages += 1
        log.error(
            "shared state: Redis unreachable (%s): local state goes on, changes are kept "
            "for it; retrying every %g s",
            _first_line(exc),
            self.retry,
        )

    def _came_back(self, replayed: int) -> None:
        if self._down_since is None:
            return
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning(
                "shared state: Redis is back after %.1f s; %d changes replayed",
                time.monotonic() - since,
                replayed,
            )

    def _deliver(self, done: Done | None, result: Any, error: BaseException | None) -> None:
        if done is None:
            return
        try:
            self.loop.call_soon_threadsafe(done, result, error)
        except RuntimeError:  # the loop is closed (shutdown)
            pass

    # ------------------------------------------------------------------ writer thread

    def _write_loop(self) -> None:
        while True:
            item, self._held = self._held, None
            if item is None:
                try:
                    item = self._queue.get(timeout=self.retry)
                except queue.Empty:
                    item = ("idle", None, None)
            if item is _CLOSE:
                self._drain_at_close()
                return
            kind, fn, done = item
            if kind == "idle":
                if self._pending and time.monotonic() >= self._next_try:
                    self._flush_writes([])  # replay what an outage kept
                continue
            if kind == "r":
                self._run_read(fn, done)
                continue
            batch: list[tuple[Callable[[Any], Any] | None, Done | None]] = list(fn)
            while True:  # the writes queued meanwhile go in the same pipeline
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt[0] != "w":
                    self._held = nxt  # next, after these writes (order is kept)
                    break
                batch.extend(nxt[1])
            self._flush_writes(batch)

    def _flush_writes(self, batch: list[tuple[Callable[[Any], Any] | None, Done | None]]) -> None:
        for fn, _ in batch:
            if fn is not None:  # (None: a barrier, see flushed())
                self._pending.append(fn)
        while len(self._pending) > MAX_PENDING:
            self._pending.popleft()
            self.dropped += 1
        error: BaseException | None = None
        if self.down and time.monotonic() < self._next_try:
            error = StateDown("Redis is unreachable")
        else:
            try:
                self._came_back(self._execute_pending())
            except self._errors as exc:
                self._went_down(exc)
                error = StateDown(_first_line(exc))
            except Exception as exc:  # a bad command: not an outage, not worth a retry
                log.error("shared state: write failed: %s", _first_line(exc))
                self._pending.clear()
                error = exc
        for _, done in batch:
            self._deliver(done, None, error)

    def _execute_pending(self) -> int:
        """Send the kept writes, oldest first; returns how many went."""
        chunk = 1000  # one pipeline per chunk: a long replay does not fill the socket
        done = 0
        while self._pending:
            fns = [self._pending[i] for i in range(min(chunk, len(self._pending)))]
            try:
                self._send(fns)
            except self._noscript:  # Redis restarted (its script cache is empty)
                self._load_scripts()
                self._send(fns)  # (a change applied twice is the same change)
            for _ in fns:
                self._pending.popleft()
            done += len(fns)
        return done

    def _send(self, fns: list[Callable[[Any], Any]]) -> None:
        if len(fns) == 1:  # the client takes the same calls, without a pipeline's cost
            fns[0](self.client)
            return
        pipe = self.client.pipeline(transaction=False)
        for fn in fns:
            fn(pipe)
        pipe.execute()

    def _load_scripts(self) -> None:
        for lua in self.scripts.values():
            self.client.script_load(lua)

    def _run_read(self, job: Callable[[], Any], done: Done | None) -> None:
        if self.down and time.monotonic() < self._next_try:
            self._deliver(done, None, StateDown("Redis is unreachable"))
            return
        try:
            replayed = self._execute_pending()  # a read sees the writes before it
            result = job()
            self._came_back(replayed)
        except self._errors as exc:
            self._went_down(exc)
            self._deliver(done, None, StateDown(_first_line(exc)))
            return
        except Exception as exc:
            self._deliver(done, None, exc)
            return
        self._deliver(done, result, None)

    def _drain_at_close(self) -> None:
        if not self._pending:
            return
        try:
            self._execute_pending()
        except Exception as exc:
            log.error(
                "shared state: %d changes not written to Redis at shutdown: %s",
                len(self._pending),
                _first_line(exc),
            )

    # ------------------------------------------------------------------ listener thread

    def _listen(self) -> None:
        pubsub = None
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self.channel)
                    if self.on_subscribed is not None:
                        self._deliver(self._subscribed, None, None)
                    self._next_try = 0.0  # the writer may try at once
                    self._queue.put(("r", self._sync_job, self._synced))  # (not on the loop)
                message = pubsub.get_message(timeout=0.5)
            except self._errors as exc:
                self._went_down(exc)
                pubsub = _close_quietly(pubsub)
                self._stop.wait(self.retry)
                continue
            except Exception:
                log.exception("shared state: event subscription failed")
                pubsub = _close_quietly(pubsub)
                self._stop.wait(self.retry)
                continue
            if message is None or message.get("type") != "message":
                continue
            data = message["data"]
            if not isinstance(data, str) or data.startswith(self._own):
                continue
            try:
                event = json.loads(data.partition("\n")[2])
            except (TypeError, ValueError):
                log.warning("shared state: ignoring a malformed event on %s", self.channel)
                continue
            if self.on_event is not None and isinstance(event, dict):
                self._deliver(lambda ev, _e: self.on_event(ev), event, None)  # type: ignore[misc]
        _close_quietly(pubsub)

    def _subscribed(self, _result: Any, _error: BaseException | None) -> None:
        if self.on_subscribed is not None:
            self.on_subscribed()

    def _sync_job(self) -> tuple[Any, bool]:
        """On the writer thread: the generation check, then the owner's snapshot."""
        client = self.client
        self._load_scripts()
        key = f"{self.prefix}:gen"
        client.set(key, secrets.token_hex(8), nx=True)
        generation = client.get(key)
        fresh = generation != self._generation
        self._generation = generation
        return (self.snapshot(client) if self.snapshot else None), fresh

    def _synced(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            return  # (the outage is logged; the next subscription syncs again)
        if self.on_sync is not None:
            self.on_sync(*result)


class _Barrier:
    __slots__ = ("link",)

    def __init__(self, link: RedisLink) -> None:
        self.link = link

    def submit(self, job: Any, done: Done | None = None) -> None:
        self.link.write(None, done)


def _close_quietly(pubsub: Any) -> None:
    if pubsub is not None:
        try:
            pubsub.close()
        except Exception:
            pass
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
