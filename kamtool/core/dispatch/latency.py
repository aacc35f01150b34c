"""Latency statistics of a destination, as Kamailio 5.6's dispatcher keeps them from the
answers to its OPTIONS probes (``ds_ping_latency_stats``).

Average and variance by Welford's online algorithm; the estimate is the average for the
first 10 samples, then an exponentially weighted moving average (``alpha`` 0.9 by default:
``ds_latency_estimator_alpha`` 900). After 10 samples with a standard deviation under 0.5
ms the count jumps to 10000 ("trained"), which slows the average down; past 2**21 samples
the count stops and the sum of squares decays instead. Kamailio keeps average, deviation and
estimate in 32-bit floats: :func:`f32` rounds as it does, so ``dispatcher.list`` shows the
same numbers. A timeout (408) counts in ``timeout`` and adds no sample.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

__all__ = ["LatencyStats", "f32"]

_TRAINED = 10000
_COUNT_CAP = 2097152
_F = struct.Struct("f")


def f32(value: float) -> float:
    """``value`` rounded to a C ``float``."""
    return _F.unpack(_F.pack(value))[0]


@dataclass(slots=True)
class LatencyStats:
    """One destination's numbers (``LATENCY`` of ``dispatcher.list``)."""

    min: int = 0
    max: int = 0
    average: float = 0.0
    stdev: float = 0.0
    estimate: float = 0.0
    m2: float = 0.0  # a C double
    count: int = 0
    timeout: int = 0

    @classmethod
    def initial(cls, latency: int, count: int = _TRAINED) -> LatencyStats:
        """The ``latency=`` attribute: a trained estimator starting at ``latency`` ms."""
        stats = cls()
        stats._reset(latency, count)
        return stats

    def _reset(self, latency: int, count: int) -> None:
        self.stdev, self.m2 = 0.0, 0.0
        self.min = self.max = latency
        self.average = self.estimate = f32(latency)
        self.count = count

    def timed_out(self) -> None:
        """A probe that got no answer (408)."""
        if self.timeout < 0xFFFFFFFF:
            self.timeout += 1

    def update(self, latency: int, alpha: float = 0.9) -> None:
        """One answered probe after ``latency`` ms."""
        alpha = f32(alpha)
        if self.count < _COUNT_CAP:
            self.count += 1
        else:
            self.m2 -= self.m2 / (self.count or 1)
        if self.count == 1:
            self._reset(latency, 1)
        if 10 < self.count < _TRAINED and self.stdev < 0.5:
            self.count = _TRAINED
        self.min = min(self.min, latency)
        self.max = max(self.max, latency)
        if self.count > 1:
            delta = f32(latency - self.average)
            self.average = f32(self.average + f32(delta / (self.count or 1)))
            delta2 = f32(latency - self.average)
            self.m2 += delta * delta2
            self.stdev = f32(math.sqrt(self.m2 / ((self.count - 1) or 1)))
        if self.count < 10:
            self.estimate = self.average
        else:
            self.estimate = f32(f32(self.estimate * alpha) + f32(latency * f32(1 - alpha)))

    def as_rpc(self) -> dict[str, float | int]:
        """The ``LATENCY`` struct of ``dispatcher.list``."""
        return {"AVG": self.average, "STD": self.stdev, "EST": self.estimate,
                "MAX": self.max, "TIMEOUT": self.timeout}  # fmt: skip
