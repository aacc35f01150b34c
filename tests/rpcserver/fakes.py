"""Small in-memory stand-ins for the proxy objects the ``ul``/``dlg``/``dispatcher``/
``permissions``/``domain``/``pike`` methods read, filled like the reference captures'
state (1001 with two contacts, 1002, 1003 with q=0.5; three dialogs; two dispatcher sets)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kamtool.proxy.cfg import default_cfg
from kamtool.proxy.htable import HtableStore, default_tables
from kamtool.proxy.stats import Statistics
from kamtool.proxy.usrloc import Binding
from kamtool.rpc.methods import Registry
from kamtool.rpc.methods.build import build_registry
from kamtool.rpc.metrics import metrics_endpoint


class FakeUsrloc:
    def __init__(self) -> None:
        self.records: dict[str, list[Binding]] = {}
        self.flushed = 0

    def aors(self) -> list[str]:
        return list(self.records)

    def get(self, aor: str) -> list[Binding] | None:
        rec = self.records.get(aor)
        return None if rec is None else list(rec)

    def stats(self) -> tuple[int, int]:
        recs = self.records.values()
        return sum(1 for rec in recs if rec), sum(len(rec) for rec in recs)

    def add(self, b: Binding) -> Binding:
        b.ruid = b.ruid or f"ulcx-test-{len(self.records)}"
        rec = self.records.setdefault(b.aor, [])
        rec[:] = [x for x in rec if x.contact != b.contact] + [b]
        return b

    def remove(self, aor: str) -> int:
        rec = self.records.get(aor, [])
        n = len(rec)
        rec.clear()
        return n

    def remove_contact(self, aor: str, contact: str) -> bool:
        rec = self.records.get(aor, [])
        kept = [b for b in rec if b.contact != contact]
        if len(kept) == len(rec):
            return False
        rec[:] = kept
        return True

    def flush(self) -> int:
        self.flushed += 1
        return 0


@dataclass
class Leg:
    tag: str | None = None
    contact: str | None = None
    cseq: str | None = None
    route_set: str | None = None
    socket: str | None = None


@dataclass
class Dlg:
    h_entry: int
    h_id: int
    call_id: str
    from_uri: str
    to_uri: str
    state: int
    profiles: list[Any]
    start_ts: int = 0
    init_ts: int = 0
    end_ts: int = 0
    timeout: int = 0
    lifetime: int = 7200
    dflags: int = 1539
    sflags: int = 0
    iflags: int = 0
    ref: int = 2
    caller: Leg = field(default_factory=Leg)
    callee: Leg = field(default_factory=Leg)

    @property
    def duration(self) -> int:
        return int(time.time()) - self.start_ts if self.start_ts else 0


class FakeDialogs:
    def __init__(self) -> None:
        self.items: list[Dlg] = []
        self.ended: list[tuple[int, int]] = []

    def dialogs(self) -> list[Dlg]:
        return list(self.items)

    def end(self, h_entry: int, h_id: int) -> bool:
        for d in self.items:
            if (d.h_entry, d.h_id) == (h_entry, h_id):
                self.items.remove(d)
                self.ended.append((h_entry, h_id))
                return True
        return False


@dataclass
class Dest:
    uri: str
    flags: str
    priority: int
    attrs: str = ""


class FakeDispatcher:
    def __init__(self) -> None:
        self.ping_active = True
        self.reloads = 0
        self.data = {
            1: [
                Dest("sip:127.0.0.1:5062", "AP", 10, "weight=50"),
                Dest("sip:127.0.0.1:5063", "IP", 5),
            ],
            2: [Dest("sip:127.0.0.1:5065;transport=udp", "IP", 0, "socket=udp:127.0.0.1:5060")],
        }

    def sets(self) -> dict[int, list[Dest]]:
        return self.data

    def reload(self) -> None:
        self.reloads += 1

    def set_state(self, state: str, set_id: int, uri: str) -> bool:
        hit = False
        for d in self.data.get(set_id, []):
            if uri in ("all", d.uri):
                d.flags = state[0].upper() + ("P" if state.endswith("p") else "X")
                hit = True
        return hit


@dataclass
class Addr:
    grp: int
    ip_addr: str
    mask: int
    port: int
    tag: str | None


@dataclass
class Trusted:
    src_ip: str
    proto: str
    from_pattern: str | None
    ruri_pattern: str | None
    tag: str | None
    priority: int


class FakePermissions:
    def __init__(self) -> None:
        self.reloaded = 0
        self.rows = [
            Addr(1, "10.0.0.10", 32, 5060, "trusted-gw"),
            Addr(3, "192.168.1.0", 32, 0, None),
            Addr(2, "127.0.0.0", 8, 0, "loopback"),
        ]

    def addresses(self) -> list[Addr]:
        return self.rows

    def trusted(self) -> list[Trusted]:
        return [Trusted("10.0.0.1", "any", None, None, "gw", 0)]

    def reload_addresses(self) -> None:
        self.reloaded += 1

    def reload_trusted(self) -> None:
        self.reloaded += 1


class FakeDomains:
    def domains(self) -> list[tuple[str, str | None]]:
        return [("127.0.0.1", None), ("kamailio.test", None)]

    def reload(self) -> None:
        pass


@dataclass
class PikeEntry:
    ip_addr: str
    leaf_hits_prev: int
    leaf_hits_curr: int
    expires: int
    status: str


class FakePike:
    max_hits = 200

    def __init__(self) -> None:
        self.hot: list[PikeEntry] = []

    def top(self, status: str) -> list[PikeEntry]:
        return [e for e in self.hot if status == "ALL" or e.status == status]


class FakeState:
    """Everything a test server needs, filled like the captures' Kamailio."""

    def __init__(self) -> None:
        now = time.time()
        self.stats = Statistics()
        self.usrloc = FakeUsrloc()
        for aor, contact, q, extra in (
            ("1002", "sip:1002@127.0.0.1:5064", -1.0, {}),
            (
                "1003",
                "sip:1003@127.0.0.1:5068;transport=UDP",
                0.5,
                {"instance": "<urn:uuid:00000000-0000-1000-8000-000000001003>", "reg_id": 1},
            ),
            ("1001", "sip:1001@127.0.0.1:5061", -1.0, {}),
            ("1001", "sip:1001@127.0.0.1:5067", -1.0, {"connection_id": 3}),
        ):
            b = Binding(
                aor=aor,
                contact=contact,
                expires=now + 3600,
                q=q,
                callid=f"{aor}-call@127.0.0.1",
                cseq=2,
                user_agent="sipsak 0.9.8.1",
                socket="udp:127.0.0.1:5060",
                ruid=f"uloc-test-{aor}-{len(self.usrloc.records)}",
                last_modified=now,
                state="CS_SYNC",
                **extra,
            )
            self.usrloc.records.setdefault(aor, []).append(b)
        self.dialogs = FakeDialogs()
        t = int(now)
        self.dialogs.items = [
            Dlg(
                3145, 3692, "1-12442@127.0.0.1", "sip:1003@127.0.0.1", "sip:9123@127.0.0.1", 4,
                [{"caller": "1003"}, "outbound"], start_ts=t, init_ts=t, timeout=t + 7200,
                caller=Leg("a-tag", "sip:1003@127.0.0.1:5069", "2", "", "udp:127.0.0.1:5060"),
                callee=Leg("b-tag", "sip:127.0.0.1:5062;transport=UDP", "0", "",
                           "udp:127.0.0.1:5060"),
            ),
            Dlg(
                3974, 1196, "1-12180@127.0.0.1", "sip:1001@127.0.0.1", "sip:1002@127.0.0.1", 3,
                [{"callee": "1002"}, {"caller": "1001"}, "inbound"], start_ts=t, init_ts=t,
                timeout=t + 10, lifetime=10,
                caller=Leg("c-tag", "sip:1001@127.0.0.1:5070", "2", "", "udp:127.0.0.1:5060"),
                callee=Leg("d-tag", "sip:127.0.0.1:5064;transport=UDP", "0", "",
                           "udp:127.0.0.1:5060"),
            ),
            Dlg(
                4009, 947, "1-12441@127.0.0.1", "sip:1001@127.0.0.1", "sip:1002@127.0.0.1", 4,
                [{"callee": "1002"}, {"caller": "1001"}, "inbound"], start_ts=t, init_ts=t,
                timeout=t + 7200,
                caller=Leg("e-tag", "sip:1001@127.0.0.1:5070", "2", "", "udp:127.0.0.1:5060"),
                callee=Leg("f-tag", "sip:127.0.0.1:5064;transport=UDP", "0", "",
                           "udp:127.0.0.1:5060"),
            ),
        ]  # fmt: skip
        self.dispatcher = FakeDispatcher()
        self.permissions = FakePermissions()
        self.domains = FakeDomains()
        self.htables = HtableStore(default_tables())
        self.cfg = default_cfg(logger="kamtool.test-rpc")
        self.pike = FakePike()
        self.stats.gauge("usrloc", "registered_users", lambda: len(self.usrloc.records))

    def registry(self) -> Registry:
        return build_registry(
            statistics=self.stats,
            usrloc=self.usrloc,
            dialogs=self.dialogs,
            dispatch=self.dispatcher,
            perms=self.permissions,
            domains=self.domains,
            htables=self.htables,
            cfg=self.cfg,
            flood=self.pike,
            processes=lambda: ["udp receiver child=0 sock=127.0.0.1:5060", "timer"],
            sockets=lambda: [("udp", "127.0.0.1", 5060), ("tcp", "127.0.0.1", 5060)],
        )

    def metrics_fn(self):
        return metrics_endpoint(
            self.stats, dialogs=self.dialogs, dispatcher=self.dispatcher, usrloc=self.usrloc
        )
