"""``kamtool ping URI``: one SIP OPTIONS and its final answer (what kamctl ping does with
sipsak): the OPTIONS case of :mod:`kamtool.core.sipreq`, with ping's own result shape.

Any final answer means the peer is alive. Retransmissions follow RFC 3261's Timer E
schedule (UDP only) and ``timeout`` is Timer F; the destination is found as RFC 3263 says
(:mod:`kamtool.core.sipresolve`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kamtool.core.sipreq import DEFAULT_TIMEOUT, RequestSpec, send

__all__ = ["DEFAULT_TIMEOUT", "PingResult", "ping"]


@dataclass(frozen=True)
class PingResult:
    """The final answer to the OPTIONS: status line, round trip, where it went."""

    uri: str
    destination: str  # proto:ip:port the request was sent to
    status: int
    reason: str
    rtt_ms: float  # first transmission -> final response
    retransmissions: int
    provisional: tuple[int, ...]  # 1xx statuses seen before the final one
    server: str | None  # Server or User-Agent header of the answer

    @property
    def status_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--json``)."""
        out = asdict(self)
        out["provisional"] = list(self.provisional)
        out["status_line"] = self.status_line
        return out


def ping(
    uri_text: str,
    *,
    transport: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    t1: float = 0.5,
    t2: float = 4.0,
    **options: Any,
) -> PingResult:
    """Send one OPTIONS to ``uri_text`` and wait for its final response.

    ``options`` are further :class:`~kamtool.core.sipreq.RequestSpec` fields (source,
    tls_ca, dns_server ...). Raises :class:`~kamtool.errors.OperationTimeout` when
    nothing final arrives within ``timeout`` seconds and
    :class:`~kamtool.errors.Unreachable` when the peer refuses.
    """
    spec = RequestSpec("OPTIONS", uri_text, transport=transport, timeout=timeout, t1=t1, t2=t2,
                       from_user="ping", user_agent="kamtool ping", **options)  # fmt: skip
    result = send(spec)
    final = result.final
    assert final is not None  # send() raises when no final answer came
    return PingResult(
        uri=result.uri,
        destination=result.destination,
        status=final.status,
        reason=final.reason,
        rtt_ms=final.ms,
        retransmissions=result.retransmissions,
        provisional=tuple(r.status for r in result.replies if r.status < 200),
        server=final.server,
    )
