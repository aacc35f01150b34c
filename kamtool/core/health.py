"""Health rules: OK / WARNING / CRITICAL, a one-line reason, and the command to look further.

One set of rules for the monitor's health panel, ``kamtool diagnose`` and the proxy's
``/metrics``. Pure functions over numbers already read; no I/O. Rates are computed
between a baseline statistics sample and the latest one; with a single sample the
totals since the server started are used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Protocol

from kamtool.errors import ConfigError

OK, WARNING, CRITICAL = "OK", "WARNING", "CRITICAL"
_RANK = {OK: 0, WARNING: 1, CRITICAL: 2}
# Fractions (0..1) among the thresholds; pairs whose warning must not exceed the critical.
_FRACTIONS = ("error_ratio", "shm", "pkg", "auth_failure_ratio")
_PAIRS = ("error_ratio", "transactions", "dialogs", "shm", "pkg", "db_latency", "bans",
          "auth_failure_ratio")  # fmt: skip


class Destination(Protocol):
    """What the dispatcher rule reads of a destination (``kamtool.tui.source.Destination``
    and the rows of ``kamtool.core.runtime.dispatcher`` have these)."""

    set_id: int
    state: str  # active | inactive | disabled | trying


def level_rank(level: str) -> int:
    """0, 1, 2 for OK, WARNING, CRITICAL: the Nagios plugin exit status of a level."""
    return _RANK[level]


def reply_class_total(stats: Mapping[str, float], cls: str) -> float:
    """Final SIP replies of class ``cls`` ("4xx") this server sent or relayed.

    tm's per-class transaction counters (``tmx:4xx_transactions``) plus sl's stateless
    replies (``sl:404_replies``, ``sl:4xx_replies`` ...), less the answers to JSON-RPC
    (:func:`rpc_answers`). A server without tmx/sl counters falls back to the replies
    it received, ``core:rcv_replies_4xx``.
    """
    tm = stats.get(f"tmx:{cls}_transactions")
    sl = _sl_class(stats, cls)
    if tm is None and not sl:
        return float(stats.get(f"core:rcv_replies_{cls}", 0))
    return float(tm or 0) + sl - rpc_answers(stats).get(cls, 0.0)


def _sl_class(stats: Mapping[str, float], cls: str) -> float:
    digit = cls[0]
    return float(sum(v for k, v in stats.items()
                     if k.startswith(f"sl:{digit}") and k.endswith("_replies")))  # fmt: skip


def rpc_answers(stats: Mapping[str, float]) -> dict[str, float]:
    """sl's replies that answered JSON-RPC over HTTP, by class, as far as they can be told.

    Kamailio's xhttp answers through sl: its 200s count in ``sl:200_replies``, its errors
    (``500 Method Not Found``, ``500 No Destination Sets``) in ``sl:500_replies``. Each
    HTTP request (:func:`http_requests`) is taken to have had one, a 5xx first (a monitor
    polling a server without some module gets one every poll), then a 2xx. That can hide
    a stateless SIP 500 on a polled server; a monitor counting its own polls as SIP
    errors, or hiding password guessing behind its 200s, is the worse fault.
    """
    http = http_requests(stats)
    if not http:
        return {}
    errors = min(_sl_class(stats, "5xx"), http)
    return {"5xx": errors, "2xx": min(_sl_class(stats, "2xx"), http - errors)}


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
    dialogs_warning: int = 1000  # dialogs in memory
    dialogs_critical: int = 10000
    pkg_warning: float = 0.80  # private memory of the fullest process
    pkg_critical: float = 0.95
    db_latency_warning: float = 0.25  # seconds for a trivial query
    db_latency_critical: float = 2.0  # also the query's time limit
    bans_warning: int = 1  # addresses banned for flooding
    bans_critical: int = 10
    auth_failure_ratio_warning: float = 0.7  # challenges per (challenges + 2xx)
    auth_failure_ratio_critical: float = 0.9
    tls_days_warning: int = 30  # days before a certificate expires
    tls_days_critical: int = 7

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
        for prefix in _FRACTIONS:
            for name in (f"{prefix}_warning", f"{prefix}_critical"):
                if not 0 <= getattr(new, name) <= 1:
                    raise ConfigError(f"{where}: {name} is a fraction between 0 and 1 (0.8 or 80%)")
        for prefix in _PAIRS:
            if getattr(new, f"{prefix}_warning") > getattr(new, f"{prefix}_critical"):
                raise ConfigError(f"{where}: {prefix}_warning is above {prefix}_critical")
        if new.tls_days_warning < new.tls_days_critical:
            raise ConfigError(f"{where}: tls_days_warning is below tls_days_critical")
        if any(getattr(new, f.name) < 0 for f in fields(new)):
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


def sip_requests(stats: Mapping[str, float]) -> float:
    """SIP requests received: the sum of the per-method counters (``core:rcv_requests_
    invite`` ...) where the server has them. Kamailio's ``core:rcv_requests`` also counts
    the HTTP requests of xhttp (JSON-RPC): an idle server polled over RPC looked busy."""
    per_method = [v for k, v in stats.items() if k.startswith("core:rcv_requests_")]
    if per_method:
        return float(sum(per_method))
    return float(stats.get("core:rcv_requests", 0))


def http_requests(stats: Mapping[str, float]) -> float:
    """Requests that were not SIP: Kamailio's xhttp (JSON-RPC) requests, which count in
    ``core:rcv_requests`` but under no SIP method (0 where there are no method counters)."""
    if not any(k.startswith("core:rcv_requests_") for k in stats):
        return 0.0
    return max(0.0, float(stats.get("core:rcv_requests", 0)) - sip_requests(stats))


def _errors_and_messages(stats: Mapping[str, float]) -> tuple[float, float]:
    """(errors, SIP messages received)."""
    errors = (
        stats.get("core:err_requests", 0)
        + stats.get("core:err_replies", 0)
        + reply_class_total(stats, "5xx")
        + reply_class_total(stats, "6xx")
    )
    return errors, sip_requests(stats) + stats.get("core:rcv_replies", 0)


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


def _graded(name: str, value: float, warning: float, critical: float, reason: str,
            command: str) -> Check:  # fmt: skip
    """OK / WARNING / CRITICAL for a value that is bad when high."""
    if value >= critical:
        return Check(name, CRITICAL, reason, command)
    if value >= warning:
        return Check(name, WARNING, reason, command)
    return Check(name, OK, reason, command)


def check_dialogs(
    stats: Mapping[str, float],
    phases: Mapping[str, object] | None = None,
    limits: Thresholds = Thresholds(),
) -> Check:
    """Dialogs held in memory: ``dlg.stats_active`` ``all`` (every phase, a dialog that
    has not seen a reply yet included), else ``dialog:active_dialogs`` +
    ``dialog:early_dialogs``."""
    command = "kamtool dlg list"
    total = _float((phases or {}).get("all"))
    if total is None:
        active, early = stats.get("dialog:active_dialogs"), stats.get("dialog:early_dialogs")
        if active is None and early is None:
            return Check("dialogs", OK, "no dialog statistics (dialog not loaded?)", command)
        total = (active or 0) + (early or 0)
    n = int(total)
    ongoing = (phases or {}).get("ongoing")
    detail = f" ({ongoing} answered)" if ongoing is not None else ""
    reason = f"{n} dialogs in memory{detail}"
    return _graded("dialogs", n, limits.dialogs_warning, limits.dialogs_critical, reason, command)


def check_private_memory(
    processes: Sequence[Mapping[str, object]] | None, limits: Thresholds = Thresholds()
) -> Check:
    """The fullest process's private (pkg) memory, from ``pkg.stats`` rows (``pid``,
    ``used`` or ``real_used``, ``total_size``, ``desc``)."""
    command = "kamtool rpc pkg.stats"
    if not processes:
        return Check("private memory", OK, "not reported by this server", command)
    worst_row, worst_ratio = None, -1.0
    for row in processes:
        total = _float(row.get("total_size"))
        used = _float(row.get("real_used", row.get("used")))
        if total and used is not None and used / total > worst_ratio:
            worst_row, worst_ratio = row, used / total
    if worst_row is None:
        return Check("private memory", OK, "no usable pkg.stats rows", command)
    total = _float(worst_row.get("total_size")) or 0
    who = f"pid {worst_row.get('pid')} ({worst_row.get('desc', '')})"
    reason = (f"{worst_ratio:.0%} used by {who}, the fullest of {len(processes)} processes "
              f"({total / 2**20:.1f} MiB each)")  # fmt: skip
    return _graded("private memory", worst_ratio, limits.pkg_warning, limits.pkg_critical,
                   reason, command)  # fmt: skip


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def check_database(
    target: str, seconds: float | None, error: str | None, limits: Thresholds = Thresholds()
) -> Check:
    """The database's answer time for a trivial query, or why it gave none."""
    command = "kamtool dbctl show"
    if error:
        return Check("database", CRITICAL, f"{target}: {error}", command)
    if seconds is None:
        return Check("database", OK, "no database configured: not checked", command)
    reason = f"{target} answered in {seconds * 1000:.0f} ms"
    return _graded("database", seconds, limits.db_latency_warning, limits.db_latency_critical,
                   reason, command)  # fmt: skip


def check_bans(
    banned: Sequence[str] | None, blocked: float | None, limits: Thresholds = Thresholds()
) -> Check:
    """Addresses banned for flooding: the ``ipban`` htable, else ``pike:blocked_ips``."""
    command = "kamtool htable dump ipban"
    if banned is None and blocked is None:
        return Check("bans", OK, "neither an ipban table nor pike statistics", command)
    if banned is not None:
        n = len(banned)
        shown = ", ".join(list(banned)[:5]) + (" ..." if n > 5 else "")
        reason = f"{n} address(es) banned" + (f": {shown}" if n else "")
    else:
        n = int(blocked or 0)
        reason = f"{n} address(es) blocked by pike"
    return _graded("bans", n, max(limits.bans_warning, 1), max(limits.bans_critical, 1),
                   reason, command)  # fmt: skip


def _auth_counts(stats: Mapping[str, float]) -> tuple[float, float]:
    """(challenges and refusals sent: 401, 407, 403; successes: SIP 2xx)."""
    failures = sum(stats.get(f"sl:{c}_replies", 0) for c in (401, 403, 407))
    failures += sum(stats.get(f"tmx:{c}_transactions", 0) for c in (401, 403, 407))
    return failures, reply_class_total(stats, "2xx")


def check_auth_failures(
    stats: Mapping[str, float],
    baseline: Mapping[str, float] | None = None,
    limits: Thresholds = Thresholds(),
) -> Check:
    """Authentication challenges and refusals per (those + successful replies).

    A phone that registers gets one challenge and one 200 (a ratio of 0.5); a wrong
    password, or a scanner trying accounts, only gets challenges (the ratio nears 1).
    On Kamailio 5.6 this rule is only as good as its ``sl:`` counters, which change from
    read to read over JSON-RPC (xhttp's HTTP answers are taken off: :func:`rpc_answers`).
    """
    command = "kamtool stats sl:"
    if not stats:
        return Check("auth failures", WARNING, "no statistics from the server", command)
    failures, good = _auth_counts(stats)
    span = "since start"
    if baseline:
        f0, g0 = _auth_counts(baseline)
        if failures >= f0 and good >= g0:
            failures, good, span = failures - f0, good - g0, "recently"
    seen = failures + good
    if seen < limits.min_messages:
        return Check("auth failures", OK, f"{seen:.0f} replies {span}: too few to judge", command)
    ratio = failures / seen
    reason = f"{ratio:.0%} challenged or refused ({failures:.0f} of {seen:.0f} replies {span})"
    return _graded("auth failures", ratio, limits.auth_failure_ratio_warning,
                   limits.auth_failure_ratio_critical, reason, command)  # fmt: skip


def check_certificate(
    path: str, days_left: float | None, error: str | None, limits: Thresholds = Thresholds()
) -> Check:
    """A TLS certificate's time to expiry (negative: expired)."""
    command = f"openssl x509 -noout -subject -enddate -in {path}"
    name = "tls certificate"
    if error:
        return Check(name, CRITICAL, f"{path}: {error}", command)
    assert days_left is not None
    if days_left < 0:
        return Check(name, CRITICAL, f"{path} expired {-days_left:.0f} days ago", command)
    reason = f"{path} expires in {days_left:.0f} days"
    if days_left <= limits.tls_days_critical:
        return Check(name, CRITICAL, reason, command)
    if days_left <= limits.tls_days_warning:
        return Check(name, WARNING, reason, command)
    return Check(name, OK, reason, command)


def check_reloads(
    stale: Mapping[str, tuple[int, int, bool]] | None, error: str | None = None
) -> Check:
    """Tables the server caches compared with the database: ``stale`` maps a table to
    (rows only in the database, rows only in memory, memory empty). A difference means a
    reload is due (one was skipped, or a row was written behind the server's back); a
    server holding nothing of a table the database fills is CRITICAL."""
    command = "kamtool drift FILE (or kamtool TABLE reload)"
    if error:
        return Check("reloads", OK, f"not compared: {error}", command)
    if not stale:
        return Check("reloads", OK, "nothing to compare", command)
    empty = [t for t, (db_only, _, none) in stale.items() if none and db_only]
    differ = [f"{t} ({a} only in the database, {b} only in memory)"
              for t, (a, b, _) in stale.items() if a or b]  # fmt: skip
    if empty:
        return Check("reloads", CRITICAL, f"the server holds no {', '.join(empty)} rows; "
                     + "; ".join(differ), command)  # fmt: skip
    if differ:
        return Check("reloads", WARNING, "reload due: " + "; ".join(differ), command)
    return Check("reloads", OK, f"{', '.join(stale)}: memory matches the database", command)


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
