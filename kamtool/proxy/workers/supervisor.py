"""The supervisor of ``kamtool serve --workers N``: forks the workers, restarts one that
dies, and stops them all on SIGTERM or SIGINT.

The supervisor itself serves nothing: it opens no socket, database or event loop before
forking (each worker is a whole proxy and opens its own), so a worker starts from a clean
process. It makes what the workers must share: their private directory (the channel and
RPC sockets) and the nonce secret (a challenge one worker sent is checked by another).

A worker that dies is started again (one log line) while the others go on; one that dies
before it ever served (a port taken, a bad setting) stops everything with its exit status,
as a lone proxy would. On SIGTERM each worker drains its transactions and flushes its
write-back contacts (``ProxyServer.stop``); the supervisor waits for them.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kamtool.errors import ExitStatus, KamtoolError
from kamtool.proxy.workers import WorkerContext

log = logging.getLogger("kamtool.workers")

RESTART_BACKOFF = (0.0, 0.5, 1.0, 2.0, 5.0)  # seconds before the n-th quick restart
QUICK = 10.0  # a worker that lived less than this died "quickly" (backoff grows)
STOP_WAIT = 30.0  # after this the workers still running get SIGKILL

# run_worker(config, ctx, restarted, ready) runs one worker to its end; ready() is called
# once it serves. The CLI passes one that builds the JSON-RPC server too.
RunWorker = Callable[[Any, WorkerContext, bool, Callable[[], None]], None]


SUN_PATH_MAX = 107  # bytes of a unix socket's path (sockaddr_un.sun_path, less the NUL)


def _private_dir(count: int) -> str:
    """The workers' private directory (mode 0700) for their sockets: in the temporary
    directory, or in /tmp when a long ``$TMPDIR`` would make the socket paths longer
    than a unix socket's address holds (every worker would fail to start)."""
    longest = len(os.fsencode(f"/w{count - 1}.sock"))
    rundir = tempfile.mkdtemp(prefix="kamtool-workers-")
    if len(os.fsencode(rundir)) + longest > SUN_PATH_MAX:
        os.rmdir(rundir)
        rundir = tempfile.mkdtemp(prefix="kamtool-workers-", dir="/tmp")
    return rundir


class Supervisor:
    """Runs ``config.workers`` workers until a signal (see module docstring)."""

    def __init__(self, config: Any, run_worker: RunWorker) -> None:
        self.count = config.workers
        # one nonce secret for all (a random one per worker would refuse the answers
        # to another worker's challenges)
        self.config = replace(config, secret=config.secret or os.urandom(32))
        self.run_worker = run_worker
        self.rundir = ""
        self.service_started = time.time()  # core.uptime: kept by restarted workers
        self.children: dict[int, int] = {}  # pid -> index
        self.ready: dict[int, int] = {}  # read end of a worker's ready pipe -> index
        self.served: set[int] = set()  # workers that served at least once
        self.started_at: dict[int, float] = {}
        self.quick_deaths: dict[int, int] = {}
        self.stopping = False
        self.failure: int | None = None  # exit status of a worker that never served
        self.error: KamtoolError | None = None  # ... and the error it reported

    def run(self) -> int:
        """Fork, watch, stop; the exit status for ``kamtool serve``."""
        self.rundir = _private_dir(self.count)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            # worker 0 first: a new database gets its tables (and an empty domain table
            # its row) once, not from N processes at the same moment
            self._spawn(0, restarted=False)
            while 0 not in self.served and self.children and not self.stopping:
                self._watch_once()
            if 0 in self.served and not self.stopping:
                for index in range(1, self.count):
                    self._spawn(index, restarted=False)
                log.info("supervisor %d: %d workers", os.getpid(), self.count)
            self._watch()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            self._stop_all()
            shutil.rmtree(self.rundir, ignore_errors=True)
        if self.error is not None:
            raise self.error
        if self.failure is not None:
            raise KamtoolError(f"a worker could not start (exit status {self.failure})")
        return 0

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if not self.stopping:
            log.info("supervisor: %s, stopping the workers", signal.Signals(signum).name)
        self.stopping = True
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        for pid in list(self.children):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _spawn(self, index: int, *, restarted: bool) -> None:
        ctx = WorkerContext(index, self.count, self.rundir, self.service_started)
        r, w = os.pipe()
        # a signal between the fork and the worker's own handlers must not run the
        # supervisor's handler in the worker: blocked until those are in place
        stop_signals = {signal.SIGTERM, signal.SIGINT}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        pid = os.fork()
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
        if pid == 0:  # the worker
            os.close(r)
            for fd in self.ready:  # the other workers' pipes are the supervisor's
                os.close(fd)
            code = 1
            try:
                for sig in stop_signals:
                    signal.signal(sig, signal.SIG_DFL)  # the worker's loop installs its own
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
                _tag_logging(index)

                def ready() -> None:
                    os.write(w, b"r")

                self.run_worker(self.config, ctx, restarted, ready)
                code = 0
            except KamtoolError as exc:  # the supervisor reports it, as a lone proxy would
                about = {"message": exc.message, "hint": exc.hint,
                         "status": int(exc.exit_status)}  # fmt: skip
                try:
                    os.write(w, b"e" + json.dumps(about).encode())
                except OSError:
                    pass
                code = 2
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                os._exit(code)
        os.close(w)
        self.children[pid] = index
        self.ready[r] = index
        self.started_at[index] = time.monotonic()

    def _watch(self) -> None:
        while self.children:
            self._watch_once()

    def _watch_once(self) -> None:
        """Read the ready pipes and reap the workers that exited (~0.2 s at most)."""
        if self.ready:
            try:
                readable, _, _ = select.select(list(self.ready), [], [], 0.2)
            except InterruptedError:
                readable = []
            for fd in readable:
                self._read_ready(fd)
        else:
            time.sleep(0.2)  # (a signal cuts it short)
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._exited(pid, status)

    def _read_ready(self, fd: int) -> None:
        """A worker's pipe: "r" it serves, "e" + JSON the error it stopped with."""
        index = self.ready.pop(fd)
        said = os.read(fd, 65536)  # (never blocks: readable, or its writer exited)
        os.close(fd)
        if said.startswith(b"r"):
            self.served.add(index)
        elif said.startswith(b"e") and self.error is None:
            self.error = _reported(said[1:])

    def _exited(self, pid: int, status: int) -> None:
        index = self.children.pop(pid, None)
        if index is None:
            return
        for fd, i in list(self.ready.items()):
            if i == index:  # it died before saying it serves: what did it say?
                self._read_ready(fd)
        code = os.waitstatus_to_exitcode(status)
        if self.stopping:
            log.info("worker %d (pid %d) stopped", index, pid)
            return
        if index not in self.served:
            log.error("worker %d (pid %d) exited (%s) before serving: stopping", index, pid, code)
            self.failure = code or 1
            self.stopping = True
            self._signal_all(signal.SIGTERM)
            return
        quick = time.monotonic() - self.started_at.get(index, 0.0) < QUICK
        n = self.quick_deaths[index] = self.quick_deaths.get(index, 0) + 1 if quick else 0
        delay = RESTART_BACKOFF[min(n, len(RESTART_BACKOFF) - 1)]
        log.warning("worker %d (pid %d) died (%s); restarting it", index, pid, _how(code))
        if delay:
            time.sleep(delay)
        self._spawn(index, restarted=True)

    def _stop_all(self) -> None:
        """SIGTERM to every worker left, then wait (SIGKILL after STOP_WAIT)."""
        self.stopping = True
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                self._exited(pid, status)
                continue
            if time.monotonic() > deadline:
                log.error("supervisor: workers still running after %.0f s: killed", STOP_WAIT)
                self._signal_all(signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.05)
        for fd in self.ready:
            os.close(fd)
        self.ready.clear()


def _reported(data: bytes) -> KamtoolError:
    """The error a worker wrote to its pipe before exiting."""
    try:
        about = json.loads(data)
        err = KamtoolError(str(about["message"]), hint=about.get("hint"))
        err.exit_status = ExitStatus(int(about["status"]))
    except (ValueError, KeyError, TypeError):
        err = KamtoolError("a worker could not start")
    return err


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def _tag_logging(index: int) -> None:
    """Name the worker in every log line it writes (``name[w1]``)."""
    for handler in logging.getLogger().handlers:
        fmt = getattr(handler.formatter, "_fmt", None) or "%(name)s: %(message)s"
        handler.setFormatter(logging.Formatter(fmt.replace("%(name)s", f"%(name)s[w{index}]")))
