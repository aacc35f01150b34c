"""``kamtool diagnose``: read the server, its database and its certificates once, then judge
them with the health rules (:mod:`kamtool.core.health`), area by area.

Areas (opensips-cli's ``diagnose`` names, plus kamtool's): ``sip`` (the server answers,
error replies, dispatcher destinations), ``load`` (transactions and dialogs in memory),
``memory`` (shared memory, the fullest process's private memory), ``db`` (the
database's answer time), ``security`` (bans, authentication failures, TLS certificates);
``full`` is all of them, ``brief`` too, printed as one line per problem.

Nothing here fails on a missing answer: what cannot be read becomes a finding.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kamtool.core import health
from kamtool.core.health import Check, Thresholds
from kamtool.core.runtime import Rpc
from kamtool.errors import BadInput, KamtoolError

AREAS: dict[str, tuple[str, ...]] = {
    "sip": ("connection", "error rate", "dispatcher"),
    "load": ("transactions", "dialogs"),
    "memory": ("shared memory", "private memory"),
    "db": ("database", "reloads", "trusted patterns"),
    "security": ("bans", "auth failures", "tls certificate"),
}
ALL_AREAS = (*AREAS, "brief", "full")


@dataclass
class Facts:
    """What was read, for the rules; ``None`` where the server does not report it."""

    target: str
    connection_error: str | None = None
    stats: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] | None = None
    transactions: dict[str, int] | None = None
    dialogs: dict[str, Any] | None = None
    destinations: list[Any] = field(default_factory=list)
    pkg: list[dict[str, Any]] | None = None
    bans: list[str] | None = None
    db_target: str = ""
    db_seconds: float | None = None
    db_error: str | None = None
    certificates: list[tuple[str, float | None, str | None]] = field(default_factory=list)
    stale: dict[str, tuple[int, int, bool]] | None = None
    stale_error: str | None = None
    bad_patterns: list[str] | None = None  # trusted rows whose pattern regcomp() refuses


class _Row:
    """A dispatcher row as the dispatcher rule reads it."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.set_id = int(row.get("set_id") or 0)
        self.state = str(row.get("state") or "")


def _stats(rpc: Rpc) -> dict[str, float]:
    from kamtool.core.runtime import stats as runtime_stats

    return runtime_stats.numbers(rpc)


def _optional(read: Callable[[], Any]) -> Any:
    """``read()``, or None when the server lacks the method (error 500, not found) or
    stopped answering after the statistics were read (that rule then has no data)."""
    try:
        return read()
    except KamtoolError:
        return None


def read_server(
    rpc: Rpc | None, target: str, facts: Facts, *, sample_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:  # fmt: skip
    """Fill ``facts`` from the server's JSON-RPC (statistics twice when ``sample_seconds``
    is given: rates over that window instead of totals since start)."""
    from kamtool.core.runtime import dialogs, dispatcher, htable, tm

    facts.target = target
    if rpc is None:
        facts.connection_error = "no JSON-RPC endpoint"
        return
    try:
        first = _stats(rpc)
        if sample_seconds > 0:
            sleep(sample_seconds)
            facts.baseline = first
            facts.stats = _stats(rpc)
        else:
            facts.stats = first
    except KamtoolError as exc:
        facts.connection_error = exc.message
        return
    facts.transactions = _optional(lambda: tm.stats(rpc))
    facts.dialogs = _optional(lambda: dialogs.stats(rpc))
    rows = _optional(lambda: dispatcher.list_destinations(rpc)) or []
    facts.destinations = [_Row(r) for r in rows]
    facts.pkg = _pkg_rows(_optional(lambda: rpc.call("pkg.stats")))
    bans = _optional(lambda: htable.dump(rpc, "ipban"))
    facts.bans = None if bans is None else [str(r.get("name")) for r in bans]


def _pkg_rows(answer: Any) -> list[dict[str, Any]] | None:
    """``pkg.stats`` as a list of per-process dicts (Kamailio answers a list of structs)."""
    if answer is None:
        return None
    if isinstance(answer, Mapping):
        answer = [answer]
    return [dict(r) for r in answer if isinstance(r, Mapping)] or None


def read_database(url: str, facts: Facts, *, timeout: float) -> None:
    """Time a trivial query on the database (connect included), bounded by ``timeout``."""
    import threading

    from kamtool.db.connect import open_database, parse_url

    u = parse_url(url)
    facts.db_target = u.redacted
    missing = u.engine == "sqlite" and not Path(u.path or "").expanduser().exists()
    if missing and u.path != ":memory:":
        facts.db_error = "no database file"
        return
    outcome: dict[str, Any] = {}

    def probe() -> None:
        started = time.monotonic()
        try:
            db = open_database(url, create_dir=False)
            try:
                db.execute_sql("SELECT COUNT(*) FROM version").fetchall()
            finally:
                db.close()
            outcome["seconds"] = time.monotonic() - started
        except Exception as exc:  # any failure is the finding
            outcome["error"] = getattr(exc, "message", None) or str(exc).splitlines()[0]

    # A stalled server blocks the driver far longer than the limit: the probe runs on a
    # daemon thread that the process may leave behind (it ends with the connect timeout).
    worker = threading.Thread(target=probe, daemon=True, name="kamtool-diagnose-db")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        facts.db_error = f"no answer in {timeout:g} s"
    elif "error" in outcome:
        facts.db_error = str(outcome["error"])
    else:
        facts.db_seconds = float(outcome["seconds"])


def read_trusted_patterns(url: str, facts: Facts) -> None:
    """The trusted rows whose from_pattern or ruri_pattern libc's regcomp() refuses (one
    such row kills Kamailio 5.6's worker at the next request from its address)."""
    from kamtool.core.posix_regex import PosixRegexError, compile_regex
    from kamtool.db.connect import connected

    bad: list[str] = []
    try:
        with connected(url, auto_create=False, create_dir=False) as db:
            rows = db.execute_sql(
                "SELECT id, src_ip, from_pattern, ruri_pattern FROM trusted").fetchall()
    except Exception:  # no trusted table (permissions unused): nothing to judge
        return
    for row_id, src_ip, *patterns in rows:
        for column, pattern in zip(("from_pattern", "ruri_pattern"), patterns, strict=True):
            if not pattern:
                continue
            try:
                compile_regex(pattern)
            except PosixRegexError as exc:
                bad.append(f"trusted id {row_id} ({src_ip}) {column} {pattern!r}: {exc}")
    facts.bad_patterns = bad


def check_trusted_patterns(bad: list[str] | None) -> Check:
    """CRITICAL when a trusted row's pattern does not compile."""
    command = "kamtool trusted show; kamtool trusted rm SRC_IP"
    if bad is None:
        return Check("trusted patterns", health.OK, "no trusted table read", command)
    if bad:
        return Check("trusted patterns", health.CRITICAL,
                     "; ".join(bad) + " (Kamailio 5.6 crashes on such a row; "
                     "allow_trusted never matches it)", command)  # fmt: skip
    return Check("trusted patterns", health.OK, "every trusted pattern compiles", command)


CACHED_TABLES = ("dispatcher", "address", "domain")


def read_reloads(url: str, rpc: Rpc | None, facts: Facts) -> None:
    """Compare the tables the server caches with the database (what ``drift`` does)."""
    from kamtool.core import apply
    from kamtool.db.connect import connected

    if rpc is None:
        facts.stale_error = "no JSON-RPC endpoint"
        return
    try:
        with connected(url, auto_create=False) as db:
            present = db.get_tables()
            stored = {t: apply.database_keys(t) for t in CACHED_TABLES if t in present}
        held = apply.read_memory(rpc, stored)
    except KamtoolError as exc:
        facts.stale_error = exc.message
        return
    if held.errors and not held.rows:
        facts.stale_error = next(iter(held.errors.values()))
        return
    facts.stale = {
        t: (len(stored[t] - rows), len(rows - stored[t]), not rows) for t, rows in held.rows.items()
    }


def read_certificates(paths: Iterable[str], facts: Facts, *, now: datetime | None = None) -> None:
    """Days until each PEM certificate expires."""
    now = now or datetime.now(UTC)
    for path in paths:
        try:
            from cryptography import x509

            cert = x509.load_pem_x509_certificate(Path(path).expanduser().read_bytes())
            left = (cert.not_valid_after_utc - now).total_seconds() / 86400
            facts.certificates.append((path, left, None))
        except ImportError:
            facts.certificates.append((path, None, "the cryptography package is not installed"))
        except OSError as exc:
            facts.certificates.append((path, None, f"cannot read it: {exc.strerror}"))
        except ValueError as exc:
            facts.certificates.append((path, None, f"not a PEM certificate: {exc}"))


def judge(facts: Facts, limits: Thresholds, areas: Iterable[str] = AREAS) -> dict[str, list[Check]]:
    """The rules of ``areas``, grouped by area (only what was read is judged)."""
    s = facts.stats
    rules: dict[str, Callable[[], list[Check]]] = {
        "connection": lambda: [health.check_connection(facts.target, facts.connection_error)],
        "error rate": lambda: [health.check_error_rate(s, facts.baseline, limits)],
        "dispatcher": lambda: [health.check_dispatcher(facts.destinations)],
        "transactions": lambda: [health.check_transactions(s, facts.transactions, None, None,
                                                           limits)],  # fmt: skip
        "dialogs": lambda: [health.check_dialogs(s, facts.dialogs, limits)],
        "shared memory": lambda: [health.check_shared_memory(s, limits)],
        "private memory": lambda: [health.check_private_memory(facts.pkg, limits)],
        "database": lambda: [health.check_database(facts.db_target, facts.db_seconds,
                                                   facts.db_error, limits)],  # fmt: skip
        "reloads": lambda: [health.check_reloads(facts.stale, facts.stale_error)],
        "trusted patterns": lambda: [check_trusted_patterns(facts.bad_patterns)],
        "bans": lambda: [health.check_bans(facts.bans, s.get("pike:blocked_ips"), limits)],
        "auth failures": lambda: [health.check_auth_failures(s, facts.baseline, limits)],
        "tls certificate": lambda: [health.check_certificate(p, d, e, limits)
                                    for p, d, e in facts.certificates],  # fmt: skip
    }
    # With no answer from the server, only the connection rule speaks for it.
    server_rules = {"error rate", "dispatcher", "transactions", "dialogs", "shared memory",
                    "private memory", "bans", "auth failures"}  # fmt: skip
    out: dict[str, list[Check]] = {}
    for area in areas:
        out[area] = [
            c
            for name in AREAS[area]
            if not (facts.connection_error and name in server_rules)
            for c in rules[name]()
        ]
    return out


def areas_for(area: str) -> tuple[str, ...]:
    """The areas a ``diagnose`` argument covers."""
    if area in ("full", "brief"):
        return tuple(AREAS)
    if area not in AREAS:
        raise BadInput(f"unknown area {area!r}", hint=f"one of {', '.join(ALL_AREAS)}")
    return (area,)


def report(facts: Facts, limits: Thresholds, area: str = "full") -> dict[str, Any]:
    """The JSON document of ``kamtool diagnose``: status, exit status, checks by area."""
    wanted = areas_for(area)
    by_area = judge(facts, limits, wanted)
    rows = [
        {"area": a, "rule": c.name, "level": c.level, "reason": c.reason, "command": c.command}
        for a in wanted
        for c in by_area[a]
    ]
    status = health.worst([Check(r["rule"], r["level"], "", "") for r in rows])
    return {"status": status, "exit_status": health.level_rank(status), "area": area,
            "target": facts.target, "checks": rows}  # fmt: skip
