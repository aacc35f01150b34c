"""Run kamtool's proxy in-process (own event loop thread) and real SIP peers against it."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kamtool.proxy.config import Listen, ProxyConfig
from kamtool.proxy.server import ProxyServer
from kamtool.sip.digest import ha1, ha1b
from tests.support.ports import free_port, low_free_port

SIPP_DIR = Path(__file__).resolve().parent.parent / "sipp"
TIMEOUT = 20


# the subscribers of the proxy tests' database (user -> password), all @127.0.0.1
USERS = {"1001": "secret1001", "1002": "secret1002", "1003": "secret1003"}


def add_subscriber(db_url: str, user: str, password: str, domain: str = "127.0.0.1") -> None:
    """Insert a subscriber row as kamctl would (plain password, ha1, ha1b)."""
    from kamtool.db.connect import connected
    from kamtool.db.models import Subscriber

    with connected(db_url):
        Subscriber.insert(
            username=user,
            domain=domain,
            password=password,
            ha1=ha1(user, domain, password),
            ha1b=ha1b(user, domain, password),
        ).execute()


class RunningProxy:
    """A :class:`ProxyServer` on its own loop thread; ``call(fn)`` runs fn on that loop."""

    def __init__(self, config: ProxyConfig, loop: str = "asyncio") -> None:
        self.config = config
        self.port = config.listen[0].port
        if loop == "uvloop":
            import uvloop

            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        from kamtool.rpc.server.proxy import start_proxy_rpc

        self.server = ProxyServer(config, rpc=start_proxy_rpc)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> RunningProxy:
        self._thread.start()
        self._ready.wait(TIMEOUT)
        if self._error is not None:
            raise self._error
        return self

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` on the proxy's loop and return its result."""

        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(TIMEOUT)

    def stat(self, name: str) -> int:
        group, _, key = name.partition(":")
        return self.call(lambda: self.server.stats.value(group, key))

    def stop(self) -> None:
        if self._thread.is_alive():
            fut = asyncio.run_coroutine_threadsafe(self.server.stop(drain=1.0), self.loop)
            fut.result(TIMEOUT)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(TIMEOUT)
        self.loop.close()


def make_config(db_url: str, port: int | None = None, **changes: Any) -> ProxyConfig:
    port = port or low_free_port()
    listen = (Listen("udp", "127.0.0.1", port), Listen("tcp", "127.0.0.1", port))
    defaults: dict[str, Any] = dict(
        listen=listen, db_url=db_url, rpc_listen=None, db_mode=1, timer_interval=1.0
    )
    defaults.update(changes)
    return ProxyConfig(**defaults)


def sipp_args(
    scenario: str,
    proxy_port: int,
    local_port: int,
    *,
    service: str = "1001",
    auth: tuple[str, str] | None = None,
    variables: dict[str, str] | None = None,
    transport: str = "u1",
    timeout: int = 15,
    hold_ms: int = 200,
    proxy_host: str = "127.0.0.1",
    local_ip: str = "127.0.0.1",
) -> list[str]:
    """SIPp's command line (``proxy_host``/``local_ip``: another proxy socket or an
    IPv6 peer, e.g. ``::1``)."""
    target = f"[{proxy_host}]" if ":" in proxy_host else proxy_host
    args = [
        "sipp",
        f"{target}:{proxy_port}",
        "-sf",
        str(SIPP_DIR / scenario),
        "-m",
        "1",
        "-i",
        local_ip,
        "-p",
        str(local_port),
        "-s",
        service,
        "-t",
        transport,
        "-nostdin",
        "-timeout",
        f"{timeout}s",
        "-timeout_error",
        "-recv_timeout",
        f"{timeout * 1000}",
        "-d",
        str(hold_ms),
    ]
    if auth:
        args += ["-au", auth[0], "-ap", auth[1]]
    for name, value in (variables or {}).items():
        args += ["-set", name, value]
    return args


def sipp(scenario: str, proxy_port: int, local_port: int | None = None, **kw: Any) -> Any:
    """Run one SIPp scenario to completion; returns the CompletedProcess."""
    local_port = local_port or free_port()
    return subprocess.run(
        sipp_args(scenario, proxy_port, local_port, **kw),
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 10,
        cwd="/tmp",
    )


def sipp_background(scenario: str, proxy_port: int, local_port: int, **kw: Any) -> Any:
    """Start a SIPp scenario (a UAS) and return the Popen; wait() it later."""
    return subprocess.Popen(
        sipp_args(scenario, proxy_port, local_port, **kw),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/tmp",
    )


@contextmanager
def sipp_peer(scenario: str, proxy_port: int, local_port: int, **kw: Any) -> Iterator[Any]:
    """A background SIPp (a UAS, or a UAC that waits) that must complete its scenario
    (exit 0) by the end of the block; killed in any case."""
    proc = sipp_background(scenario, proxy_port, local_port, **kw)
    try:
        yield proc
        assert proc.wait(20) == 0, proc.communicate()[0][-3000:]
    finally:
        proc.kill()


def register(
    proxy_port: int, user: str, local_port: int | None = None, expires: int = 600, **kw: Any
) -> None:
    """``user`` (one of :data:`USERS`) registers through the proxy with SIPp; must succeed."""
    res = sipp(
        "register.xml",
        proxy_port,
        local_port,
        service=user,
        auth=(user, USERS[user]),
        variables={"expires": str(expires)},
        **kw,
    )
    assert res.returncode == 0, explain(res)


def caller_args(callee: str = "1002", caller: str = "1001") -> dict[str, Any]:
    """SIPp options for ``caller`` (one of :data:`USERS`) calling ``callee``."""
    return {"service": callee, "auth": (caller, USERS[caller]), "variables": {"caller": caller}}


def call(proxy_port: int, scenario: str = "uac_call.xml", **kw: Any) -> Any:
    """Run a UAC scenario (1001 calls 1002 unless ``callee``/``caller`` say otherwise)
    through the proxy; returns the CompletedProcess."""
    who = {k: kw.pop(k) for k in ("callee", "caller") if k in kw}
    return sipp(scenario, proxy_port, **caller_args(**who), **kw)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def explain(proc: Any) -> str:
    out = proc.stdout if isinstance(proc.stdout, str) else ""
    err = proc.stderr if isinstance(proc.stderr, str) else ""
    return f"exit {proc.returncode}\n{out[-3000:]}\n{err[-2000:]}"


class UdpClient:
    """A tiny SIP UA on a UDP socket for crafted requests (digest answered on demand)."""

    def __init__(
        self, proxy_port: int, timeout: float = 3.0, local: tuple[str, int] = ("127.0.0.1", 0)
    ) -> None:
        """``local``: the address to send from (another loopback address is another
        host; a chosen port, a chosen worker of ``serve --workers``)."""
        self.proxy = ("127.0.0.1", proxy_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(local)
        self.sock.settimeout(timeout)
        self.port = self.sock.getsockname()[1]
        self._n = 0

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.proxy)

    def recv(self) -> Any:
        from kamtool.sip.parser import parse_message

        data, _ = self.sock.recvfrom(65535)
        return parse_message(data)

    def request(
        self,
        method: str,
        uri: str,
        *,
        from_user: str = "1001",
        to: str | None = None,
        headers: list[str] | None = None,
        cseq: int = 1,
        call_id: str | None = None,
        branch: str | None = None,
        body: str = "",
    ) -> bytes:
        """Wire bytes of a request (Via/From/To/Call-ID/CSeq filled in)."""
        self._n += 1
        branch = branch or f"z9hG4bK-cli-{self.port}-{self._n}"
        call_id = call_id or f"cli-{self.port}-{self._n}@127.0.0.1"
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport",
            f"From: <sip:{from_user}@127.0.0.1>;tag=ft{self._n}",
            f"To: {to or f'<{uri}>'}",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method}",
            *(headers or []),
            f"Content-Length: {len(body)}",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def ask(self, method: str, uri: str, **kw: Any) -> Any:
        """Send a request, return the first non-100 response."""
        self.send_raw(self.request(method, uri, **kw))
        while True:
            resp = self.recv()
            if resp.status != 100:
                return resp

    def register(
        self,
        user: str,
        password: str,
        contacts: list[str],
        *,
        expires: int | None = 600,
        extra: list[str] | None = None,
        auth_user: str | None = None,
    ) -> Any:
        """REGISTER with digest: challenge, answer, return the final response."""
        from kamtool.sip.digest import answer_challenge, parse_challenge

        uri = f"sip:127.0.0.1:{self.proxy[1]}"
        headers = [f"Contact: {c}" for c in contacts] + (extra or [])
        if expires is not None:
            headers.append(f"Expires: {expires}")
        call_id = f"reg-{user}-{self.port}@127.0.0.1"
        to = f"<sip:{user}@127.0.0.1>"
        first = self.ask("REGISTER", uri, from_user=user, to=to, headers=headers,
                         call_id=call_id, cseq=self._n * 2 + 1)  # fmt: skip
        if first.status != 401:
            return first
        ch = parse_challenge(first.headers.get("www-authenticate"))
        creds = answer_challenge(
            ch, method="REGISTER", uri=uri, username=auth_user or user, password=password,
            cnonce="0a4f113b",
        )
        return self.ask("REGISTER", uri, from_user=user, to=to, call_id=call_id,
                        cseq=self._n * 2 + 2,
                        headers=[*headers, f"Authorization: {creds.to_header()}"])  # fmt: skip
