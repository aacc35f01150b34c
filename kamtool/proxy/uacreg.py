"""Upstream registrations (Kamailio's uac module, ``uac_reg``): each enabled row of the
``uacreg`` table is registered at its ``auth_proxy`` (a PBX trunk, a carrier) with
digest, refreshed before it expires and retried after a failure.

The REGISTER goes out as a local client transaction of tm (retransmissions, fr_timer),
laid out as uac_reg lays it out: R-URI ``sip:r_domain``, From/To
``sip:r_username@r_domain``, Contact ``sip:l_uuid@contact_addr`` (the row's
``contact_addr``, else the listener that reaches the registrar). A call the carrier
sends to that Contact is mapped back to ``sip:l_username@l_domain`` by
``uac_reg_lookup`` (:mod:`kamtool.proxy.ksr.uac`).

Where we differ from Kamailio 5.6, on purpose: a failed registration is retried after
``uac_reg_retry_interval`` doubling up to 8 times that (Kamailio retries at a fixed
interval, and not at all with its default ``reg_retry_interval`` 0); ``uac.reg_reload``
is not refused within 150 s of the previous one (Kamailio's limit guards its shared
memory swap, which we do not have).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kamtool.db import schema
from kamtool.db.models import make_model
from kamtool.proxy.dest import dest_of_uri
from kamtool.sip.digest import answer_challenge
from kamtool.sip.digest_header import select_challenge
from kamtool.sip.message import Headers, Request
from kamtool.sip.uri import parse_uri

log = logging.getLogger(__name__)

# the in-memory flags uac.reg_dump shows (uac_reg.c)
DISABLED, ONGOING, ONLINE, AUTHSENT, INIT = 1, 2, 4, 8, 16
MAX_BACKOFF = 8  # the retry interval doubles up to this many times the configured one
COLUMNS = ("l_uuid", "l_username", "l_domain", "r_username", "r_domain", "realm",
           "auth_username", "auth_password", "auth_ha1", "auth_proxy", "expires",
           "flags", "reg_delay", "contact_addr", "socket")  # fmt: skip


@dataclass
class Line:
    """One registration: its row and its state."""

    l_uuid: str
    l_username: str
    l_domain: str
    r_username: str
    r_domain: str
    realm: str
    auth_username: str
    auth_password: str
    auth_ha1: str
    auth_proxy: str
    expires: int
    flags: int = 0
    reg_delay: int = 0
    contact_addr: str = ""
    socket: str = ""
    timer_expires: int = 0  # wall clock: when the binding runs out (or the next try)
    reg_init: int = 0  # wall clock: when it was loaded
    call_id: str = field(default_factory=lambda: os.urandom(10).hex())
    from_tag: str = field(default_factory=lambda: os.urandom(8).hex())
    cseq: int = 0
    failures: int = 0
    timer: Any = None
    stale_answered: bool = False  # this attempt answered a stale=true challenge already
    resolved: Any = None  # (proto, address, port) of a named auth_proxy, for one send
    contact_used: str = ""  # host:port of our Contact (the row's, else the listener's)

    def record(self, now: float) -> dict[str, Any]:
        """The uac.reg_dump / uac.reg_info record (Kamailio prints "none" for empty
        secrets, proxy and contact address)."""
        none = lambda v: v or "none"  # noqa: E731
        return {
            "l_uuid": self.l_uuid, "l_username": self.l_username, "l_domain": self.l_domain,
            "r_username": self.r_username, "r_domain": self.r_domain, "realm": self.realm,
            "auth_username": self.auth_username, "auth_password": none(self.auth_password),
            "auth_ha1": none(self.auth_ha1), "auth_proxy": none(self.auth_proxy),
            "expires": self.expires, "flags": self.flags,
            "diff_expires": int(self.timer_expires - now), "timer_expires": self.timer_expires,
            "reg_init": self.reg_init, "reg_delay": self.reg_delay,
            "contact_addr": none(self.contact_addr or self.contact_used),
            "socket": self.socket,
        }  # fmt: skip


def line_of_row(row: Any, now: float) -> Line:
    numbers = ("expires", "flags", "reg_delay")
    values = {c: getattr(row, c, None) for c in COLUMNS}
    line = Line(**{k: v if v is not None else (0 if k in numbers else "")
                   for k, v in values.items()})  # fmt: skip
    line.flags = (int(line.flags) & DISABLED) | INIT
    line.reg_init = line.timer_expires = int(now)  # as Kamailio shows a line not yet sent
    return line


class UacRegistrar:
    """The registrations of one proxy: loaded from ``uacreg``, sent through tm."""

    def __init__(self, database: Any, wire: Any, codec: Any, tm: Any, timers: Any,
                 config: Any, worker: Any = None) -> None:  # fmt: skip
        self.database = database
        self.wire = wire  # kamtool.proxy.wire.Wire: the socket a REGISTER leaves from
        self.codec = codec
        self.tm = tm
        self.timers = timers
        self.interval = float(config.uac_reg_timer_interval)
        self.retry = float(config.uac_reg_retry_interval)
        self.lines: dict[str, Line] = {}
        self.by_user: dict[str, Line] = {}
        self.worker = worker  # DbWorker: table reads once the proxy serves

    # ------------------------------------------------------------------ table
    def _rows(self, l_uuid: str | None = None) -> list[Any]:
        m = make_model(schema.tables()["uacreg"], self.database)
        q = m.select()
        if l_uuid is not None:
            q = q.where(m.l_uuid == l_uuid)
        return list(q)

    def load(self) -> int:
        """Every row, read here (at start, before the worker owns the database)."""
        return self.apply(self._rows())

    def apply(self, rows: list[Any]) -> int:
        """``rows`` in place of what was loaded (the state starts again)."""
        for line in self.lines.values():
            self._cancel(line)
        self.lines, self.by_user = {}, {}
        now = time.time()
        for row in rows:
            self._add(line_of_row(row, now))
        return len(self.lines)

    async def read(self, l_uuid: str | None = None) -> list[Any]:
        """The rows (of one l_uuid), read on the database worker: the loop never waits
        on the database once it serves."""
        if self.worker is None:
            return self._rows(l_uuid)
        return await self.worker.run(partial(self._rows, l_uuid))

    async def reload(self) -> int:
        """uac.reg_reload: every row again; each line registers anew."""
        count = self.apply(await self.read())
        self.start()
        return count

    async def refresh(self, l_uuid: str) -> bool:
        """uac.reg_refresh: one row again from the table, registered anew; False when it
        is not there (then it is dropped from memory too)."""
        rows = await self.read(l_uuid)
        self.remove(l_uuid)
        if not rows:
            return False
        self._add(line_of_row(rows[0], time.time()))
        self._schedule(self.lines[l_uuid], 0)
        return True

    def remove(self, l_uuid: str) -> bool:
        line = self.lines.pop(l_uuid, None)
        if line is None:
            return False
        self._cancel(line)
        if self.by_user.get(line.r_username) is line:  # another line of that user takes over
            del self.by_user[line.r_username]
            for other in self.lines.values():
                self.by_user.setdefault(other.r_username, other)
        return True

    def _add(self, line: Line) -> None:
        self.lines[line.l_uuid] = line
        self.by_user.setdefault(line.r_username, line)

    def find(self, attr: str, value: str) -> Line | None:
        """The line whose ``attr`` (l_uuid, l_username, r_username, auth_username) is ``value``."""
        if attr == "l_uuid":
            return self.lines.get(value)
        if attr not in ("l_username", "r_username", "auth_username"):
            raise ValueError(f"unsupported attribute {attr}")
        return next((x for x in self.lines.values() if getattr(x, attr) == value), None)

    def set_enabled(self, line: Line, on: bool) -> None:
        if on:
            line.flags &= ~DISABLED
            line.failures = 0
            self._schedule(line, 0)
        else:
            line.flags = (line.flags | DISABLED) & ~(ONLINE | ONGOING | AUTHSENT)
            self._cancel(line)

    # ------------------------------------------------------------------ timers
    def start(self) -> None:
        for line in self.lines.values():
            self._schedule(line, line.reg_delay)

    def stop(self) -> None:
        for line in self.lines.values():
            self._cancel(line)

    def _cancel(self, line: Line) -> None:
        if line.timer is not None:
            line.timer.cancel()
            line.timer = None

    def _schedule(self, line: Line, delay: float) -> None:
        self._cancel(line)
        if not line.flags & DISABLED:
            line.timer = self.timers.call_later(max(delay, 0.0), self._send, line, None)

    # ------------------------------------------------------------------ REGISTER
    def _send(self, line: Line, credentials: Any) -> None:
        line.timer = None
        if line.flags & DISABLED or self.lines.get(line.l_uuid) is not line:
            return
        try:
            target = parse_uri(line.auth_proxy or f"sip:{line.r_domain}")
        except Exception:
            target = None
        dest = dest_of_uri(target) if target is not None else None
        if dest is None and target is not None and line.resolved is None:
            # a host name: its address first (A/AAAA through the system's resolver, off the
            # loop; no SRV/NAPTR yet), then this send again
            asyncio.ensure_future(self._resolve(line, credentials, target))
            return
        if dest is None and line.resolved is not None:
            dest, line.resolved = line.resolved, None  # one lookup per attempt
        local = self.wire.local_socket(dest, line.socket or None) if dest else None
        if dest is None or local is None:
            log.warning("uacreg %s: cannot reach %s", line.l_uuid, line.auth_proxy)
            self._failed(line)
            return
        line.flags |= ONGOING
        if credentials is None:
            line.flags &= ~AUTHSENT
            line.stale_answered = False
        line.cseq += 1
        cseq = line.cseq
        host = f"[{local.host}]" if ":" in local.host else local.host
        contact = line.contact_used = line.contact_addr or f"{host}:{local.port}"

        def build(branch: str) -> Request:
            h = Headers()
            h.add("Via", self.codec.via_for(local, branch))
            aor = f"sip:{line.r_username}@{line.r_domain}"
            h.add("From", f"<{aor}>;tag={line.from_tag}")
            h.add("To", f"<{aor}>")
            h.add("Call-ID", line.call_id)
            h.add("CSeq", f"{cseq} REGISTER")
            h.add("Max-Forwards", "70")
            h.add("Contact", f"<sip:{line.l_uuid}@{contact}>")
            h.add("Expires", str(line.expires))
            if credentials is not None:
                h.add(credentials[0], credentials[1])
            h.add("Content-Length", "0")
            return Request("REGISTER", f"sip:{line.r_domain}", h)

        self.tm.send_local(
            "REGISTER", dest, build, on_final=lambda _stx, resp: self._answer(line, resp)
        )

    async def _resolve(self, line: Line, credentials: Any, target: Any) -> None:
        proto = getattr(target, "transport", None) or ("tls" if target.secure else "udp")
        port = target.port or (5061 if proto == "tls" else 5060)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.host, port, type=socket.SOCK_DGRAM
            )
        except OSError as exc:
            infos = []
            log.warning("uacreg %s: cannot resolve %s: %s", line.l_uuid, target.host, exc)
        # IPv4 first: the usual listener (local_socket() still needs one of the family)
        addrs = sorted({i[4][0] for i in infos}, key=lambda a: ":" in a)
        if self.lines.get(line.l_uuid) is not line or line.flags & DISABLED:
            return
        if not addrs:
            self._failed(line)
            return
        line.resolved = (proto, addrs[0], port)
        self._send(line, credentials)

    def _answer(self, line: Line, response: Any) -> None:
        if self.lines.get(line.l_uuid) is not line or line.flags & DISABLED:
            return
        line.flags &= ~ONGOING
        status = response.status if response is not None else 408
        if 200 <= status < 300:
            granted = _granted(response, line)
            line.flags = (line.flags | ONLINE) & ~AUTHSENT  # INIT stays: 20 as Kamailio
            line.failures = 0
            line.timer_expires = int(time.time()) + granted
            # refresh ahead of expiry: Kamailio renews at its timer once fewer than
            # reg_timer_interval seconds are left; never later than half-way
            self._schedule(line, max(min(granted - self.interval, granted / 2), 1.0))
            return
        min_expires = response.headers.get("Min-Expires") if status == 423 else None
        if min_expires and min_expires.strip().isdigit() and int(min_expires) > line.expires:
            line.expires = int(min_expires)  # RFC 3261 10.2.8: ask again for at least that
            self._send(line, None)
            return
        if status in (401, 407) and self._authenticate(line, status, response):
            return
        log.warning("uacreg %s: registration at %s failed (%d)", line.l_uuid, line.r_domain, status)
        self._failed(line)

    def _authenticate(self, line: Line, status: int, response: Any) -> bool:
        """Answer a 401/407 challenge: once per attempt, and once more when the registrar
        says our nonce was only stale (RFC 2617 3.2.1); False when we cannot."""
        header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        challenge = select_challenge(response.headers.get_lines(header))
        if challenge is None:
            return False
        if line.flags & AUTHSENT and not (challenge.stale and not line.stale_answered):
            return False
        line.stale_answered = bool(line.flags & AUTHSENT)
        try:
            creds = answer_challenge(
                challenge, method="REGISTER", uri=f"sip:{line.r_domain}",
                username=line.auth_username, password=line.auth_password or None,
                ha1_hex=line.auth_ha1 or None, cnonce=os.urandom(8).hex(),
            )  # fmt: skip
        except ValueError as exc:  # neither password nor HA1, an odd algorithm ...
            log.warning("uacreg %s: cannot answer the challenge: %s", line.l_uuid, exc)
            return False
        line.flags |= AUTHSENT
        name = "Authorization" if status == 401 else "Proxy-Authorization"
        self._send(line, (name, creds.to_header()))
        return True

    def _failed(self, line: Line) -> None:
        line.flags &= ~(ONLINE | ONGOING | AUTHSENT)
        backoff = min(2**line.failures, MAX_BACKOFF)
        line.failures += 1
        delay = self.retry * backoff if self.retry > 0 else self.interval
        line.timer_expires = int(time.time() + delay)
        self._schedule(line, delay)

    # ------------------------------------------------------------------ lookups
    def lookup(self, key: str) -> str | None:
        """uac_reg_lookup: ``sip:l_username@l_domain`` of the line whose l_uuid is
        ``key`` or, for a SIP URI, whose r_username is the URI's user."""
        if key[:4].lower() in ("sip:", "sips"):
            try:
                user = parse_uri(key).user or ""
            except Exception:
                return None
            line = self.by_user.get(user)
        else:
            line = self.lines.get(key)
        return f"sip:{line.l_username}@{line.l_domain}" if line is not None else None

    def status(self, l_uuid: str) -> int:
        """uac_reg_status, Kamailio's codes: 1 a valid registration (a refresh may be in
        flight); -1 unknown, -2 an attempt in flight and no valid registration, -3
        disabled, -99 no valid registration, waiting for the next attempt."""
        line = self.lines.get(l_uuid)
        if line is None:
            return -1
        if line.flags & DISABLED:
            return -3
        if line.flags & ONLINE and line.timer_expires > time.time():
            return 1
        if line.flags & ONGOING:
            return -2
        return -99


def _granted(response: Any, line: Line) -> int:
    """The binding's lifetime the registrar granted: the expires of our Contact among
    those it returns (the AoR may have others), else the Expires header, else what we
    asked for."""
    for c in response.contacts:
        value = c.params.get("expires")
        if getattr(c.uri, "user", None) == line.l_uuid and value and str(value).isdigit():
            return int(value)
    if response.expires is not None:
        return int(response.expires)
    return line.expires


def load_uacreg(database: Any, wire: Any, codec: Any, tm: Any, timers: Any, config: Any,
                worker: Any = None) -> UacRegistrar | None:  # fmt: skip
    """The registrar of a starting proxy, its lines loaded (``start()`` sends); None
    when the ``uacreg`` table cannot be read (logged: the proxy serves without it)."""
    registrar = UacRegistrar(database, wire, codec, tm, timers, config, worker)
    try:
        count = registrar.load()
    except Exception as exc:
        from kamtool.proxy.tables import rollback

        log.warning("cannot load the uacreg table: %s", exc)
        rollback(database)
        return None
    if count:
        log.info("uacreg: %d upstream registrations", count)
    return registrar
