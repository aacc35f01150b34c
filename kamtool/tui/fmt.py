"""Small text formatters shared by the widgets (no textual here)."""

from __future__ import annotations


def duration(seconds: float | None) -> str:
    """``3725`` -> ``"1h02m05s"``, ``65`` -> ``"1m05s"``, None -> ``"-"``."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{s:02d}s"
    if minutes:
        return f"{minutes}m{s:02d}s"
    return f"{s}s"


def rate(value: float | None) -> str:
    """Messages per second, compact."""
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}/s"
    return f"{value:.1f}/s"


def countdown(left_when_sampled: int | None, elapsed: float) -> str:
    """Seconds left now, from seconds left at the sample and the time since then."""
    if left_when_sampled is None:
        return "expired"
    left = int(left_when_sampled - elapsed)
    return duration(left) if left > 0 else "expired"
