"""The servers under test (kamtool serve, Kamailio 5.6 with the reference cfg), the SIPp callee."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.sippbench.measure import SCENARIOS, WORKLOADS, run_sipp, write_users_csv
from tests.support.ports import free_port

SEED_USERS = [("1001", "secret1001"), ("1002", "secret1002"), ("1003", "secret1003")]

# A density of 1000000 per 2 s still banned SIPp at ~17000 hits per unit: pike apparently
# keeps 16-bit counters (1000000 mod 65536 = 16960). 60000 per 1 s stays below 65536 and
# above what SIPp is asked for (see PIKE_SAFE_REQUESTS).
PIKE_DENSITY = 60000
PIKE_LIMITS = {
    'modparam("pike", "sampling_time_unit", 2)': 'modparam("pike", "sampling_time_unit", 1)',
    'modparam("pike", "reqs_density_per_unit", 200)': (
        f'modparam("pike", "reqs_density_per_unit", {PIKE_DENSITY})'
    ),
}
# Requests per second a step may offer: on an idle machine Kamailio passes 16000
# REGISTER calls/s, and the next doubling (32000 calls, 64000 requests/s) got SIPp banned.
PIKE_SAFE_REQUESTS = PIKE_DENSITY * 3 // 4

# kamtool's pike gets the same raised limit (it takes the number as given, no 16 bits).
KAMTOOL_PIKE_LIMITS = ["--pike-unit", "1", "--pike-density", str(PIKE_DENSITY)]

# route[AUTH] of the reference cfg, opened with a return: no digest for anybody, as
# `kamtool serve --no-auth` (the REGISTER-without-auth workload).
AUTH_ROUTE = "route[AUTH] {\n"
NO_AUTH_ROUTE = AUTH_ROUTE + "\treturn;  # bench: no authentication\n"


def wait_answering(port: int, cwd: Path, timeout: float = 30) -> None:
    """Until the server at 127.0.0.1:port answers one OPTIONS."""
    deadline = time.monotonic() + timeout
    while run_sipp(WORKLOADS["options"], port, 10, 1, None, cwd).ok != 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers OPTIONS on 127.0.0.1:{port}")
        time.sleep(0.2)


class KamtoolServer:
    """``python -m kamtool serve`` on a fresh SQLite DB with the given subscribers."""

    def __init__(
        self,
        work: Path,
        users: list[tuple[str, str]],
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
        name: str = "kamtool",
        auth: bool = True,
    ) -> None:
        self.work = work
        self.users = users
        self.extra = extra or []  # more serve flags (bench/overload.py: --rpc-listen)
        self.env = env
        self.name = name
        self.auth = auth
        self.db_url = "sqlite:///" + str(work / "kamtool.sqlite")
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> KamtoolServer:
        kamtool = [sys.executable, "-m", "kamtool", "--db", self.db_url]
        for user, password in self.users:
            subprocess.run(
                [*kamtool, "add", f"{user}@127.0.0.1", password],
                check=True, capture_output=True, timeout=60, cwd=self.work,
            )  # fmt: skip
        self.port = free_port()
        log = (self.work / "kamtool-serve.log").open("wb")
        flags = [] if self.auth else ["--no-auth"]
        self.proc = subprocess.Popen(
            [*kamtool, "serve", "--listen", f"udp:127.0.0.1:{self.port}", "--rpc-listen", "",
             "--log-level", "warning", *KAMTOOL_PIKE_LIMITS, *flags, *self.extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.work, env=self.env,
        )  # fmt: skip
        log.close()
        try:
            wait_answering(self.port, self.work)
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def pgid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def kamtool_has_workers() -> bool:
    """Whether ``kamtool serve`` takes ``--workers`` (issue #17 item 3) yet."""
    out = subprocess.run(
        [sys.executable, "-m", "kamtool", "serve", "--help"],
        capture_output=True, text=True, timeout=60, env=os.environ | {"COLUMNS": "200"},
    )  # fmt: skip
    return "--workers" in out.stdout


class KamailioServer:
    """Kamailio 5.6 with the reference cfg (tests.support.kamailio) and the same subscribers.

    The reference cfg's pike limit (200 requests per 2 s per source IP, then a 300 s ban)
    would block any load generator, so a copy with that limit raised is used; nothing else
    changes (children=2 UDP workers, usrloc db_mode 2, auth_db on SQLite), except
    ``children`` when asked (1 compares one worker with kamtool's one process) and
    route[AUTH] returning at once when ``auth`` is False.
    """

    def __init__(
        self, work: Path, users: list[tuple[str, str]], children: int = 2, auth: bool = True,
        name: str = "kamailio",
    ) -> None:  # fmt: skip
        self.work = work
        self.users = users
        self.children = children
        self.auth = auth
        self.name = name
        self.k = None

    def config_text(self, text: str) -> str:
        """The reference cfg with the bench's changes (raises if the reference moved)."""
        for line, value in PIKE_LIMITS.items():
            if line not in text:
                raise RuntimeError(f"reference cfg changed: {line} not found")
            text = text.replace(line, value)
        if self.children != 2:
            if "\nchildren=2\n" not in text:
                raise RuntimeError("reference cfg changed: children=2 line not found")
            text = text.replace("\nchildren=2\n", f"\nchildren={self.children}\n")
        if not self.auth:
            if text.count(AUTH_ROUTE) != 1:
                raise RuntimeError("reference cfg changed: one route[AUTH] expected")
            text = text.replace(AUTH_ROUTE, NO_AUTH_ROUTE)
        return text

    def __enter__(self) -> KamailioServer:
        import tests.support.kamailio as support

        cfg = self.work / "kamailio-bench.cfg"
        cfg.write_text(self.config_text(support.CONFIG.read_text()))
        self.k = support.Kamailio(self.work, db="sqlite", seed=True, config=cfg).start()
        try:
            for user, password in self.users:
                if (user, password) not in SEED_USERS:  # the seed added 1001..1003
                    self.k.kamctl("add", user, password)
            wait_answering(self.port, self.work)
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def port(self) -> int:
        return self.k.sip_port

    bans = 0  # "pike blocking" lines seen so far

    def check(self) -> bool:
        """Whether pike banned the load generator since the last check (then lifted).

        Seen once at 250 OPTIONS/s, far under the raised limit, right after kamtool's
        32000/s step (cause not found): the ban (the cfg's ipban htable, 300 s) would fail
        every later step, so once pike unblocks the address it is flushed over the ctl
        socket and the caller repeats the step; a second ban in a row raises.
        """
        bans = self.k.log_text().count("pike blocking")
        if bans == self.bans:
            return False
        self.bans = bans
        # pike keeps the address blocked until its timer unblocks the node (it logs
        # "UNBLOCKing"); the cfg's ipban entry is flushed after that
        deadline = time.monotonic() + 30
        blocked = self.k.log_text().count("BLOCKing ip")
        while self.k.log_text().count("UNBLOCKing") < blocked:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kamailio's pike kept 127.0.0.1 blocked; {self.k.log_file}")
            time.sleep(0.5)
        subprocess.run(
            ["kamcmd", "-s", f"unix:{self.k.ctl_socket}", "htable.flush", "ipban"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        return True

    @property
    def pgid(self) -> int:
        return self.k.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.k is not None:
            self.k.stop()


class Callee:
    """A SIPp UAS (``uas.xml``) registered at ``server`` as ``user``: the far end of the calls.

    The REGISTER is sent from the UAS's own port (a one-call SIPp run, with digest when the
    server authenticates), so the binding points at the UAS, which starts right after.
    """

    def __init__(self, server, user: tuple[str, str], work: Path) -> None:
        self.server = server
        self.user = user
        self.work = work
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Callee:
        csv = write_users_csv(self.work / f"callee-{self.user[0]}.csv", [self.user], self.port)
        wl = WORKLOADS["register" if self.server.auth else "register_noauth"]
        run = run_sipp(wl, self.server.port, 1, 1, csv, self.work, local_port=self.port)
        if run.ok != 1:
            raise RuntimeError(f"{self.server.name}: the callee {self.user[0]} did not register")
        log = (self.work / "uas.log").open("wb")
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(SCENARIOS / "uas.xml"), "-i", "127.0.0.1", "-p", str(self.port),
             "-nostdin", "-max_recv_loops", "10000", "-deadcall_wait", "1000"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.work,
        )  # fmt: skip
        log.close()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
