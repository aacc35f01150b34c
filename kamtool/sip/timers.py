"""Transaction timer values (RFC 3261 section 17 and Table 4 of appendix A, RFC 6026).

One frozen table: every timer derives from T1, T2 and T4, so a test can shrink them all at
once (``TimerConfig(t1=0.01, t2=0.04, t4=0.05)``) and a deployment can tune them in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_TIMERS", "TimerConfig"]


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1/T2/T4 and the timers A..M derived from them (seconds).

    ``*_reliable`` timers are zero over reliable transports (TCP, TLS, SCTP, WS): there are no
    retransmissions to absorb there.
    """

    t1: float = 0.5  # RTT estimate
    t2: float = 4.0  # maximum retransmit interval for non-INVITE requests and INVITE responses
    t4: float = 5.0  # maximum duration a message remains in the network
    d: float = 32.0  # Timer D: "> 32 s" for unreliable transports
    # Kamailio tm's fr_timer: when set it replaces 64*T1 for B, F and H (no final response /
    # no ACK); the reference config uses 5 s.
    fr_timer: float | None = None
    # Timer C (16.6 step 11, Kamailio's fr_inv_timer): for proxies, None for a UA. Runs in an
    # INVITE client transaction from the first provisional on, restarted by each one.
    c: float | None = None

    def durations(self) -> dict[tuple[str, bool], float | None]:
        """(timer, reliable transport) -> duration: Table 4 with its per-transport zeros."""
        out: dict[tuple[str, bool], float | None] = {}
        for reliable in (False, True):
            for name, value in {
                "A": self.a, "B": self.b, "C": self.c, "D": self.d_for(reliable), "E": self.e,
                "F": self.f, "G": self.g, "H": self.h, "I": self.i_for(reliable),
                "J": self.j_for(reliable), "K": self.k_for(reliable), "L": self.l, "M": self.m,
            }.items():  # fmt: skip
                out[name, reliable] = value
        return out

    @property
    def a(self) -> float:
        """Timer A: initial INVITE retransmit interval (UDP only), doubled each time."""
        return self.t1

    @property
    def b(self) -> float:
        """Timer B: INVITE transaction timeout."""
        return 64 * self.t1 if self.fr_timer is None else self.fr_timer

    def d_for(self, reliable: bool) -> float:
        """Timer D: wait for response retransmits (0 over reliable transports)."""
        return 0.0 if reliable else self.d

    @property
    def e(self) -> float:
        """Timer E: initial non-INVITE retransmit interval (UDP only), doubled up to T2."""
        return self.t1

    @property
    def f(self) -> float:
        """Timer F: non-INVITE transaction timeout."""
        return 64 * self.t1 if self.fr_timer is None else self.fr_timer

    @property
    def g(self) -> float:
        """Timer G: initial INVITE final-response retransmit interval, doubled up to T2."""
        return self.t1

    @property
    def h(self) -> float:
        """Timer H: wait time for ACK receipt."""
        return 64 * self.t1 if self.fr_timer is None else self.fr_timer

    def i_for(self, reliable: bool) -> float:
        """Timer I: wait time for ACK retransmits."""
        return 0.0 if reliable else self.t4

    def j_for(self, reliable: bool) -> float:
        """Timer J: wait time for non-INVITE request retransmits."""
        return 0.0 if reliable else 64 * self.t1

    def k_for(self, reliable: bool) -> float:
        """Timer K: wait time for response retransmits."""
        return 0.0 if reliable else self.t4

    @property
    def l(self) -> float:  # noqa: E743 - the RFC's name
        """Timer L (RFC 6026): wait time for accepted INVITE request retransmits."""
        return 64 * self.t1

    @property
    def m(self) -> float:
        """Timer M (RFC 6026): wait time for retransmission of 2xx to INVITE."""
        return 64 * self.t1


DEFAULT_TIMERS = TimerConfig()
