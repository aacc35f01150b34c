"""``kamtool demo``: kamtool's proxy, two users and a call between two simulated phones.

Everything lives in a temporary directory (SQLite database, RPC runtime directory, the
proxy's log) on loopback ports the system chose free, and goes away on exit::

    with DemoLab() as lab, LoopThread() as loop:      # proxy running, users added
        phones = DemoPhones(lab)
        loop.run(phones.connect())                    # both phones registered
        loop.run(phones.call())                       # 1001 calls 1002: 407, 180, 200, ACK
        ...                                           # the monitor, or a short hold
        loop.run(phones.hang_up())                    # BYE, 200
        loop.run(phones.close())

The proxy runs as ``kamtool serve`` in a child process, exactly as a user starts it; the
phones (:mod:`kamtool.ua.phone`) run on an asyncio loop in a thread of their own, so the
monitor (or anything else) can use the main thread meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kamtool.errors import KamtoolError, OperationTimeout
from kamtool.ua.call import Call, TraceEntry
from kamtool.ua.phone import Phone

DOMAIN = "127.0.0.1"
CALLER, CALLEE = "1001", "1002"
START_TIMEOUT = 30.0  # seconds for the proxy to answer JSON-RPC
STOP_GRACE = 15.0  # seconds for its graceful stop (drains transactions) before SIGKILL
T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A port the system reports free for UDP and TCP on ``host`` right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind((host, port))
            except OSError:
                continue
            return port
    raise KamtoolError(f"no free port on {host}")


class DemoLab:
    """``kamtool serve`` on a temporary SQLite database with two users (context manager).

    Attributes once started: ``dir``, ``db_url``, ``sip`` (ip, port), ``rpc_url``,
    ``passwords`` (user -> password, drawn for this run), ``log_file``.
    """

    def __init__(self, *, log_level: str = "info") -> None:
        self.log_level = log_level
        self.dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.passwords = {u: secrets.token_urlsafe(9) for u in (CALLER, CALLEE)}
        self.sip = (DOMAIN, 0)
        self.rpc_url = ""
        self.run_dir: Path | None = None

    @property
    def db_url(self) -> str:
        assert self.dir is not None
        return "sqlite:///" + str(self.dir / "kamailio.sqlite")

    @property
    def log_file(self) -> Path:
        assert self.dir is not None
        return self.dir / "serve.log"

    def __enter__(self) -> DemoLab:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Create the database and users, start the proxy, wait until it answers."""
        from kamtool.core import domains, subscribers
        from kamtool.core.users import User
        from kamtool.db.connect import connected

        self.dir = Path(tempfile.mkdtemp(prefix="kamtool-demo-"))
        with connected(self.db_url) as db:
            domains.add(db, DOMAIN)
            for user, password in self.passwords.items():
                subscribers.add(db, User(user, DOMAIN), password)
        config = self.dir / "kamtool.toml"
        # The FIFO and datagram socket go to a temporary directory too, not to the
        # runtime directory a real `kamtool serve` of this user may be using.
        self.run_dir = self._runtime_dir()
        config.write_text(f'[proxy]\nrpc_runtime_dir = "{self.run_dir}"\n')
        for attempt in range(3):
            try:
                self._spawn(config)
                return
            except KamtoolError:
                # a port found free was taken before the proxy bound it: other ports
                log = self.log_tail()
                if attempt == 2 or not any(w in log for w in ("cannot listen", "in use")):
                    raise

    def _spawn(self, config: Path) -> None:
        """Start ``kamtool serve`` on ports free now and wait until it answers."""
        sip_port, rpc_port = free_port(), free_port()
        self.sip = (DOMAIN, sip_port)
        self.rpc_url = f"http://127.0.0.1:{rpc_port}/RPC"
        args = [
            sys.executable, "-m", "kamtool", "--db", self.db_url, "serve",
            "--listen", f"udp:127.0.0.1:{sip_port}", "--rpc-listen", f"127.0.0.1:{rpc_port}",
            "--domain", DOMAIN, "--config", str(config), "--log-level", self.log_level,
        ]  # fmt: skip
        # The user's own settings (KAMTOOL_DB_URL ...) must not leak into the demo's server,
        # nor its discovery record (kamtool.rpc.discovery) into the user's runtime
        # directory, where plain `kamtool` commands would then find the demo first.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAMTOOL_")}
        assert self.dir is not None
        env["XDG_RUNTIME_DIR"] = str(self.dir)
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,  # Ctrl-C in the terminal is ours to handle
            )  # fmt: skip
        self._wait_ready()

    def _runtime_dir(self) -> Path:
        """``run`` in the temporary directory, or a directory of its own in /tmp when a
        long TMPDIR would make the socket's path too long for AF_UNIX (108 bytes)."""
        from kamtool.rpc.server import SOCKET_NAME

        assert self.dir is not None
        run = self.dir / "run"
        if len(str(run / SOCKET_NAME).encode()) < 100:
            return run
        return Path(tempfile.mkdtemp(prefix="kamtool-demo-run-", dir="/tmp"))

    def _wait_ready(self) -> None:
        from kamtool.errors import RpcUnavailable
        from kamtool.rpc.client import RpcClient

        client = RpcClient(self.rpc_url, timeout=2.0)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise KamtoolError(
                    f"kamtool serve exited with status {self.process.returncode}: "
                    + self.log_tail()
                )
            try:
                client.call("core.version")
                return
            except (RpcUnavailable, OperationTimeout):
                if time.monotonic() > deadline:
                    raise OperationTimeout(
                        f"kamtool serve did not answer on {self.rpc_url} within "
                        f"{START_TIMEOUT:g} s: " + self.log_tail()
                    ) from None
                time.sleep(0.1)

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call to the proxy."""
        from kamtool.rpc.client import RpcClient

        return RpcClient(self.rpc_url, timeout=5.0).call(method, *params)

    def cdrs(self) -> list[dict[str, Any]]:
        """The ``acc`` rows the proxy wrote (read after it stopped, when nothing waits)."""
        from kamtool.core import cdrs
        from kamtool.db.connect import connected

        with connected(self.db_url, auto_create=False) as db:
            return cdrs.show(db, limit=50)

    def stop_proxy(self) -> None:
        """SIGTERM (a graceful stop), SIGKILL if it takes longer than ``STOP_GRACE``."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """Stop the proxy and remove the temporary directory."""
        self.stop_proxy()
        for path in (self.run_dir, self.dir):
            if path is not None:
                shutil.rmtree(path, ignore_errors=True)


class LoopThread:
    """An asyncio loop on a thread of its own (context manager); :meth:`run` waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="demo-phones",
                                       daemon=True)  # fmt: skip

    def __enter__(self) -> LoopThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the loop and return its result (OperationTimeout after
        ``timeout`` seconds)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise OperationTimeout(f"the demo phones did not finish within {timeout:g} s") from None


@dataclass
class Outcome:
    """What happened, for ``--no-monitor`` and ``--json``."""

    proxy: str  # udp:ip:port
    rpc_url: str
    directory: str
    registered: list[str] = field(default_factory=list)
    call_status: int | None = None  # final response to the INVITE
    challenged: int | None = None  # 407 when the INVITE was challenged first
    provisional: list[int] = field(default_factory=list)
    server_dialogs: list[str] = field(default_factory=list)  # dlg.list states mid-call
    bye_status: int | None = None
    ended_by: str | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)
    cdrs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DemoPhones:
    """The two phones of the demo: 1001 calls 1002 through the lab's proxy."""

    def __init__(self, lab: DemoLab) -> None:
        self.lab = lab
        self.caller = Phone(CALLER, lab.passwords[CALLER], DOMAIN, lab.sip)
        self.callee = Phone(CALLEE, lab.passwords[CALLEE], DOMAIN, lab.sip)
        self.call_: Call | None = None

    async def connect(self) -> list[str]:
        """Bind both phones and register them; the AoRs registered."""
        for phone in (self.caller, self.callee):
            await phone.start()
            await phone.register()
        return [self.caller.aor, self.callee.aor]

    async def call(self) -> Call:
        """1001 calls 1002 and waits until 1002 has the ACK of its 200 OK."""
        self.call_ = await self.caller.call(CALLEE)
        for _ in range(250):  # the ACK is on its way from the proxy: 5 s at most
            answered = self.callee.active_call()
            if (
                answered is not None
                and answered.dialog is not None
                and any(e.summary.startswith("ACK") for e in self.callee.trace if not e.outgoing)
            ):
                break
            await asyncio.sleep(0.02)
        return self.call_

    async def hang_up(self) -> int | None:
        """1001 sends BYE if the call is still up; the BYE's final status (None: no BYE)."""
        if self.call_ is None or not self.call_.up:
            return None
        response = await self.caller.hang_up(self.call_)
        return response.status if response is not None else None

    async def keep_alive(self, interval: float = 1.0) -> None:
        """Both phones send OPTIONS keepalives every ``interval`` seconds until cancelled
        (so that the monitor's traffic moves)."""
        while True:
            await asyncio.sleep(interval)
            for phone in (self.caller, self.callee):
                try:
                    await phone.options()
                except KamtoolError:
                    pass  # one lost keepalive is no news; the monitor shows the server

    async def close(self) -> None:
        self.caller.close()
        self.callee.close()

    def trace(self) -> list[TraceEntry]:
        """Both phones' messages in time order."""
        return sorted(self.caller.trace + self.callee.trace, key=lambda e: e.at)


def trace_rows(entries: list[TraceEntry], proxy: tuple[str, int]) -> list[dict[str, Any]]:
    """The messages as rows (``t`` seconds from the first, ``from``, ``to``, ``message``)."""
    if not entries:
        return []
    start = entries[0].at
    rows = []
    for e in entries:
        other = "proxy" if e.peer == f"{proxy[0]}:{proxy[1]}" else e.peer
        src, dst = (e.phone, other) if e.outgoing else (other, e.phone)
        rows.append({"t": round(e.at - start, 3), "from": src, "to": dst, "message": e.summary})
    return rows


def run_demo(hold: float = 1.0, monitor: Any = None, *, log_level: str = "info") -> Outcome:
    """The whole demo; ``monitor(lab)`` (blocking, e.g. the Textual monitor) runs while the
    call is up, else the call is held ``hold`` seconds. Cleans up whatever happens."""
    with DemoLab(log_level=log_level) as lab, LoopThread() as loop:
        phones = DemoPhones(lab)
        outcome = Outcome(proxy=f"udp:{lab.sip[0]}:{lab.sip[1]}", rpc_url=lab.rpc_url,
                          directory=str(lab.dir))  # fmt: skip
        try:
            outcome.registered = loop.run(phones.connect())
            call = loop.run(phones.call())
            outcome.call_status = call.status
            outcome.provisional = list(call.provisional)
            invites = [e for e in phones.caller.trace if e.summary.endswith("(INVITE)")]
            if any(e.summary.startswith("407") for e in invites):
                outcome.challenged = 407
            from kamtool.core.runtime.dialogs import list_dialogs

            outcome.server_dialogs = [
                str(d.get("state_name", d.get("state"))) for d in list_dialogs(lab)
            ]
            if monitor is not None:
                pinging = asyncio.run_coroutine_threadsafe(phones.keep_alive(), loop.loop)
                try:
                    monitor(lab)
                finally:
                    pinging.cancel()
            else:
                time.sleep(hold)
            outcome.bye_status = loop.run(phones.hang_up())
            outcome.ended_by = call.ended_by
        finally:
            outcome.trace = trace_rows(phones.trace(), lab.sip)
            loop.run(phones.close())
            lab.stop_proxy()  # flushes the accounting rows before we read them
        outcome.cdrs = [
            {k: row[k] for k in ("method", "sip_code", "sip_reason", "callid")}
            for row in lab.cdrs()
        ]
    return outcome
