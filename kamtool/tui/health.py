"""Health rules: OK / WARNING / CRITICAL, a one-line reason, and the command to look further.

Pure functions over what the monitor already read; no I/O, no textual. Rates are
computed between a baseline statistics sample (about a minute old) and the latest one;
with a single sample (``--once``) the totals since the server started are used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace

from kamtool.errors import ConfigError
from kamtool.tui.source import Destination
from kamtool.tui.traffic import reply_class_total

OK, WARNING, CRITICAL = "OK", "WARNING", "CRITICAL"
_RANK = {OK: 0, WARNING: 1, CRITICAL: 2}


@dataclass(frozen=True)
class Thresholds:
    """Limits of the rules; fractions are 0..1.

    Operators set them in the ``[monitor]`` TOML section under the same names, or with
    ``kamtool monitor --threshold NAME=VALUE`` (:meth:`with_values` checks both).
    """

    error_ratio_warning: float = 0.05
    error_ratio_critical: float = 0.20
    min_messages: int = 20  # below this many messages an error ratio means nothing
    transactions_warning: int = 1000
    transactions_critical: int = 10000
    shm_warning: float = 0.80
    shm_critical: float = 0.95

    def with_values(self, values: Mapping[str, object], *, where: str = "[monitor]") -> Thresholds:
        """A copy with ``values`` (name -> number, or text such as ``"0.9"`` or ``"90%"``
        for a fraction) applied and checked: known names, numbers of the right kind,
        fractions within 0..1, each warning level not above its critical one.
        Raises :class:`~kamtool.errors.ConfigError` naming ``where``."""
        known = {f.name: f.type for f in fields(self)}
        changes: dict[str, float | int] = {}
        for name, raw in values.items():
            if name not in known:
                raise ConfigError(
                    f"{where}: unknown threshold {name!r} (known: {', '.join(known)})"
                )
            changes[name] = _number(name, raw, integer=known[name] == "int", where=where)
        new = replace(self, **changes)
        for name in ("error_ratio_warning", "error_ratio_critical", "shm_warning", "shm_critical"):
            if not 0 <= getattr(new, name) <= 1:
                raise ConfigError(f"{where}: {name} is a fraction between 0 and 1 (0.8 or 80%)")
        for prefix in ("error_ratio", "transactions", "shm"):
            if getattr(new, f"{prefix}_warning") > getattr(new, f"{prefix}_critical"):
                raise ConfigError(f"{where}: {prefix}_warning is above {prefix}_critical")
        if new.min_messages < 0 or new.transactions_warning < 0:
            raise ConfigError(f"{where}: thresholds cannot be negative")
        return new


def _number(name: str, raw: object, *, integer: bool, where: str) -> float | int:
    """A threshold value from TOML (int/float) or a flag (text, ``%`` allowed for
    fractions)."""
    bad = ConfigError(f"{where}: {name} = {raw!r} is not a {'whole ' if integer else ''}number")
    if isinstance(raw, bool):
        raise bad
    if isinstance(raw, str):
        text = raw.strip()
        try:
            if text.endswith("%") and not integer:
                return float(text[:-1]) / 100
            return int(text) if integer else float(text)
        except ValueError:
            raise bad from None
    if integer and isinstance(raw, int):
        return raw
    if not integer and isinstance(raw, int | float):
        return float(raw)
    raise bad


@dataclass(frozen=True)
class Check:
    """The outcome of one rule."""

    name: str
    level: str
    reason: str
    command: str


def worst(checks: Sequence[Check]) -> str:
    """The most severe level among ``checks`` (OK when there are none)."""
    return max((c.level for c in checks), key=_RANK.__getitem__, default=OK)


def check_connection(target: str, error: str | None) -> Check:
    if error:
        return Check("connection", CRITICAL, f"no answer from {target}: {error}",
                     "kamtool rpc core.version")  # fmt: skip
    return Check("connection", OK, f"{target} answers", "kamtool rpc core.version")


def check_dispatcher(destinations: Sequence[Destination]) -> Check:
    """Every set needs a usable destination.

    Inactive and disabled destinations are down; trying ones (failing probes, not yet
    inactive) are still used but count as a warning.
    """
    command = "kamtool rpc dispatcher.list"
    sets: dict[int, list[Destination]] = {}
    for d in destinations:
        sets.setdefault(d.set_id, []).append(d)
    if not sets:
        return Check("dispatcher", OK, "no dispatcher sets", command)
    dead, degraded = [], []
    for set_id, dests in sorted(sets.items()):
        down = [d for d in dests if d.state in ("inactive", "disabled")]
        trying = [d for d in dests if d.state == "trying"]
        if len(down) == len(dests):
            dead.append(f"set {set_id}: all {len(dests)} down")
        elif down or trying:
            parts = [f"{len(down)} of {len(dests)} down"] if down else []
            parts += [f"{len(trying)} trying"] if trying else []
            degraded.append(f"set {set_id}: " + ", ".join(parts))
    if dead:
        return Check("dispatcher", CRITICAL, "; ".join(dead + degraded), command)
    if degraded:
        return Check("dispatcher", WARNING, "; ".join(degraded), command)
    return Check("dispatcher", OK, f"{len(sets)} set(s), every destination up", command)


def _errors_and_messages(stats: Mapping[str, float]) -> tuple[float, float]:
    errors = (
        stats.get("core:err_requests", 0)
        + stats.get("core:err_replies", 0)
        + reply_class_total(stats, "5xx")
        + reply_class_total(stats, "6xx")
    )
    return errors, stats.get("core:rcv_requests", 0) + stats.get("core:rcv_replies", 0)


def check_error_rate(
    stats: Mapping[str, float],
    baseline: Mapping[str, float] | None = None,
    limits: Thresholds = Thresholds(),
) -> Check:
    """Errors (failed forwards, 5xx and 6xx replies) per message received."""
    command = "kamtool rpc stats.get_statistics all"
    if not stats:
        return Check("error rate", WARNING, "no statistics from the server", command)
    errors, messages = _errors_and_messages(stats)
    span = "since start"
    if baseline:
        e0, m0 = _errors_and_messages(baseline)
        if errors >= e0 and messages >= m0:  # else the counters were reset: use totals
            errors, messages, span = errors - e0, messages - m0, "recently"
    if messages < limits.min_messages:
        return Check("error rate", OK, f"{messages:.0f} messages {span}: too few to judge", command)
    ratio = errors / messages
    reason = f"{ratio:.1%} errors ({errors:.0f} of {messages:.0f} messages {span})"
    if ratio >= limits.error_ratio_critical:
        return Check("error rate", CRITICAL, reason, command)
    if ratio >= limits.error_ratio_warning:
        return Check("error rate", WARNING, reason, command)
    return Check("error rate", OK, reason, command)


def current_transactions(
    stats: Mapping[str, float], transactions: Mapping[str, int] | None
) -> int | None:
    """Transactions in memory: tm.stats ``current``, else ``tmx:inuse_transactions``."""
    if transactions and "current" in transactions:
        return int(transactions["current"])
    value = stats.get("tmx:inuse_transactions")
    return None if value is None else int(value)


def check_transactions(
    stats: Mapping[str, float],
    transactions: Mapping[str, int] | None,
    baseline: Mapping[str, float] | None = None,
    baseline_transactions: Mapping[str, int] | None = None,
    limits: Thresholds = Thresholds(),
) -> Check:
    """Transactions piling up: many in memory, or their number doubling since the baseline."""
    command = "kamtool rpc tm.stats"
    now = current_transactions(stats, transactions)
    if now is None:
        return Check("transactions", OK, "no transaction statistics (tm not loaded?)", command)
    if now >= limits.transactions_critical:
        return Check("transactions", CRITICAL, f"{now} transactions in memory", command)
    if now >= limits.transactions_warning:
        return Check("transactions", WARNING, f"{now} transactions in memory", command)
    before = current_transactions(baseline or {}, baseline_transactions) if baseline else None
    if before is not None and now >= 100 and now >= 2 * max(before, 1):
        return Check("transactions", WARNING, f"piling up: {before} -> {now}", command)
    return Check("transactions", OK, f"{now} transactions in memory", command)


def check_shared_memory(stats: Mapping[str, float], limits: Thresholds = Thresholds()) -> Check:
    """Kamailio's shared memory pool nearly full (``shmem:real_used_size`` of ``total_size``)."""
    command = "kamtool rpc core.shmmem"
    total, used = stats.get("shmem:total_size"), stats.get("shmem:real_used_size")
    if not total or used is None:
        return Check("shared memory", OK, "not reported by this server", command)
    ratio = used / total
    reason = f"{ratio:.0%} used ({used / 2**20:.1f} of {total / 2**20:.1f} MiB)"
    if ratio >= limits.shm_critical:
        return Check("shared memory", CRITICAL, reason, command)
    if ratio >= limits.shm_warning:
        return Check("shared memory", WARNING, reason, command)
    return Check("shared memory", OK, reason, command)


def evaluate(
    *,
    target: str,
    stats: Mapping[str, float],
    transactions: Mapping[str, int] | None,
    destinations: Sequence[Destination],
    connection_error: str | None = None,
    baseline: Mapping[str, float] | None = None,
    baseline_transactions: Mapping[str, int] | None = None,
    limits: Thresholds = Thresholds(),
) -> list[Check]:
    """Run every rule; the order is the display order."""
    return [
        check_connection(target, connection_error),
        check_dispatcher(destinations),
        check_error_rate(stats, baseline, limits),
        check_transactions(stats, transactions, baseline, baseline_transactions, limits),
        check_shared_memory(stats, limits),
    ]
