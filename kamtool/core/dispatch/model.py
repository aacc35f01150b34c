"""The dispatcher's data: state bits, module parameters, destinations, sets, selections."""

from __future__ import annotations

from dataclasses import dataclass, field

from kamtool.core.dispatch.attrs import DsAttrs
from kamtool.core.dispatch.latency import LatencyStats

__all__ = [
    "ALGORITHMS", "DS_DISABLED", "DS_INACTIVE", "DS_PROBING", "DS_TRYING", "DsDest",
    "DsParams", "DsRequest", "DsSet", "MissingInput", "SelectError", "Selection", "skipped",
]  # fmt: skip

# Kamailio's DS_*_DST state bits
DS_INACTIVE, DS_TRYING, DS_DISABLED, DS_PROBING, DS_NODNSARES = 1, 2, 4, 8, 16
DS_STATES_ALL = 31
DS_HASH_USER_ONLY, DS_FAILOVER_ON = 1, 2
MATCH_NOPORT, MATCH_NOPROTO, MATCH_ACTIVE = 1, 2, 4
PROTO_IDS = {"": 0, "udp": 1, "tcp": 2, "tls": 3, "sctp": 4, "ws": 5, "wss": 6}

ALGORITHMS = {
    0: "hash over the Call-ID", 1: "hash over the From URI", 2: "hash over the To URI",
    3: "hash over the R-URI", 4: "round-robin", 5: "hash over the auth user name",
    6: "random", 7: "hash over the hash_pvar value", 8: "first usable by priority",
    9: "weight (attribute weight=)", 10: "call load (attributes duid=, maxload=)",
    11: "relative weight (attribute rweight=)", 12: "parallel forking to all",
    13: "latency-adjusted priority round-robin",
}  # fmt: skip
SLOTS = 100


class SelectError(LookupError):
    """Nothing selected: unknown set, no usable destination, or the request lacks what
    the algorithm needs (``ds_select_dst`` returns false)."""


class MissingInput(SelectError):
    """The request lacks what the hash algorithm reads (empty Call-ID, no From URI ...)."""


def skipped(flags: int) -> bool:
    """Kamailio's ``ds_skip_dst``: inactive or disabled destinations are not selected."""
    return bool(flags & (DS_INACTIVE | DS_DISABLED))


@dataclass(frozen=True, slots=True)
class DsParams:
    """The module parameters the selection reads."""

    flags: int = DS_FAILOVER_ON  # modparam "flags": 1 hash user only, 2 failover
    use_default: bool = False  # the last destination is only a fallback
    probing_threshold: int = 1
    inactive_threshold: int = 1
    latency_alpha: float = 0.9  # ds_latency_estimator_alpha / 1000


@dataclass(slots=True)
class DsRequest:
    """What the hash algorithms read from a request (the caller parses it)."""

    call_id: str = ""
    from_uri: str = ""
    to_uri: str = ""
    ruri: str = ""
    auth_user: str | None = None  # digest user name of Proxy-Authorization/Authorization
    pv_value: str | None = None  # the expanded hash_pvar (algorithm 7)
    method: str = "INVITE"


@dataclass(eq=False, slots=True)
class DsDest:
    """One destination with its run-time state."""

    set_id: int
    uri: str
    flags: int
    priority: int
    attrs: DsAttrs
    description: str = ""
    dload: int = 0  # calls counted against maxload (algorithm 10)
    latency: LatencyStats = field(default_factory=LatencyStats)
    message_count: int = 0  # failures (or successes while inactive) in a row
    rpriority: int = 0  # latency-adjusted priority (algorithm 13)
    address: str | None = None  # resolved IP (None: not resolved)
    resolved_port: int = 0  # the port an SRV record gave (0: none)
    dnstime: float = 0.0  # unix time of the last successful lookup
    row: int = 0  # position in the table as loaded
    host: str = ""
    port: int = 0  # as written, 0 when absent
    proto: int = 0  # PROTO_IDS of the transport parameter

    @property
    def usable(self) -> bool:
        return not skipped(self.flags)


@dataclass(eq=False, slots=True)
class DsSet:
    id: int
    dests: list[DsDest]
    last: int = 0
    wlist: list[int] = field(default_factory=lambda: [0] * SLOTS)
    wlast: int = 0
    rwlist: list[int] = field(default_factory=lambda: [0] * SLOTS)
    rwlast: int = 0


@dataclass(slots=True)
class Selection:
    """The outcome of a select: ``dest`` chosen; ``failover`` the records ``ds_next_dst``
    walks (``dest`` first, as Kamailio's xavp list); ``branches`` the extra parallel
    branches of algorithm 12; ``alg`` as it ended up (10 falls back to 0)."""

    set_id: int
    alg: int
    dest: DsDest
    failover: list[DsDest] = field(default_factory=list)
    branches: list[DsDest] = field(default_factory=list)
    call_id: str = ""


@dataclass(slots=True)
class Load:
    set_id: int
    duid: str
    confirmed: bool = False
