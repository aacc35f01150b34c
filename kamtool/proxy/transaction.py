"""The proxy's transaction records: a :class:`ServerTx` per request handled statefully,
a :class:`ClientTx` per forwarded branch, a :class:`Target` per place a branch goes.
:mod:`kamtool.proxy.tm` drives them; the route's steps read and arm them (``build``,
``on_response``, ``on_failure``, ``flags``, per-transaction timers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Dest = tuple[str, str, int]  # (proto, host, port)


@dataclass(slots=True)
class Target:
    """Where one branch goes: the new Request-URI and the next hop."""

    uri: str
    dest: Dest
    q: float = 1.0
    path: list[str] = field(default_factory=list)  # Route values to push (registrar Path)
    binding: Any = None


@dataclass(eq=False, slots=True)
class ClientTx:
    """One forwarded branch of a server transaction (the sip layer's client transaction
    ``key``)."""

    server: ServerTx
    key: tuple[str, str]
    target: Target
    request: Any  # as forwarded (for the ACK of a late non-2xx, see response())
    status: int = 0  # highest status received (0: nothing yet; 408: timed out)
    final: Any = None  # final response (parsed) or None
    done: bool = False
    replied: bool = False  # any response came (t_branch_replied)

    @property
    def branch(self) -> str:
        return self.key[0]

    @property
    def is_invite(self) -> bool:
        return self.server.method == "INVITE"


@dataclass(eq=False, slots=True)
class ServerTx:
    """A request the proxy handles statefully (``key``: the sip layer's server transaction;
    requests the proxy sends itself get a ``("local", ...)`` key and no endpoint)."""

    key: tuple
    method: str
    request: Any
    endpoint: Any  # where the request came in (replies go back this way)
    reply_addr: tuple[str, int]
    branches: list[ClientTx] = field(default_factory=list)
    groups: list[list[Target]] = field(default_factory=list)  # q-groups not yet tried
    canceled: bool = False
    completed: bool = False  # final response sent
    on_final: Callable[[ServerTx, Any], None] | None = None  # before a final is relayed
    on_response: Callable[[ServerTx, ClientTx, Any], None] | None = None  # any relayed reply
    build: Callable[[ServerTx, Target, str], Any] | None = None  # -> the branch's Request
    # t_on_branch: the route the branches forwarded next run (once: as tm, a failure route
    # that adds a branch must arm it again)
    branch_route: str | None = None
    # the first branch whose reply can be the answer: the branches a failure route adds
    # replace those before them (tm's failure_reply_mode 3, Kamailio's default)
    first_branch: int = 0
    ctx: Any = None  # routing data (dialog ...)
    # failure_route: the last branch failed and no q-group is left; new targets or None
    on_failure: Callable[[ServerTx, ClientTx], list[Target] | None] | None = None
    flags: int = 0  # the cfg's per-transaction flags (setflag), bits 1 << n
    # t_set_fr: this transaction's fr_timer and fr_inv_timer (seconds; None: the proxy's)
    fr_timer: float | None = None
    fr_inv_timer: float | None = None

    def best(self) -> ClientTx:
        """The branch whose final response answers (RFC 3261 §16.7 step 6): the best by
        :func:`_prio`, the earliest of equals. Branches before ``first_branch`` were
        replaced by a failure route's."""
        return min((b for b in self.branches[self.first_branch :] if b.done), key=_prio)

    def challenges(self) -> list[tuple[str, str]]:
        """Every challenge of the 401 and 407 branches (§16.7 step 7: the proxy MUST
        collect them all into the response it sends; Kamailio's tm_aggregate_auth)."""
        out: list[tuple[str, str]] = []
        for b in self.branches[self.first_branch :]:
            if b.final is not None and b.status in (401, 407):
                for name in ("WWW-Authenticate", "Proxy-Authenticate"):
                    out += [(name, v) for v in b.final.headers.get_lines(name)]
        return out


def _prio(b: ClientTx) -> int:
    """Kamailio tm's rank of a branch's final status (get_prio, lower wins): 6xx first,
    then by class, the lowest code within a class, and in 4xx 401, 407, 415, 420, 484
    (the replies the caller can act on) before the others. Our own 408 (no reply) loses
    to a real reply of the same class."""
    cls, xx = divmod(b.status, 100)
    if cls == 6:
        prio = 1000 + xx
    elif cls == 4:
        prio = 4000 + (xx if xx in (1, 7, 15, 20, 84) else 100 + xx)
    else:
        prio = cls * 1000 + xx
    return prio * 2 + (1 if b.final is None else 0)


def cancel_reason(status: int) -> tuple[tuple[str, str], ...]:
    """The Reason header (RFC 3326) of the CANCELs a final ``status`` sends to the other
    branches, as Kamailio's tm words it."""
    text = ';text="Call completed elsewhere"' if status == 200 else ""
    return (("Reason", f"SIP;cause={status}{text}"),)
