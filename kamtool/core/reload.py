"""Ask the running server to reload a table after kamtool changed it in the database.

Provisioning commands (``address add``, ``dispatcher rm`` ...) hand their committed
:class:`~kamtool.core.writes.Change` to :func:`after_edit` (``kamtool.cli.provision``
does, unless ``--no-reload``)::

    after_edit(change.kind, settings, out, change=change)   # never raises

or call :func:`reload_after_change` directly for the outcome::

    outcome = reload_after_change(settings, "address")   # never raises
    outcome.status   # "reloaded" | "unavailable" | "unused" | "failed" | "skipped"

The edit stands whatever happens: no endpoint answering is normal when only the
database is managed ("unavailable", worth an info line), and so is a server that does
not load the table ("unused"). Kamailio's dispatcher and permissions refuse a reload
within ``reload_delta`` (5 s) of the previous one with "Ongoing reload" (kamtool serve
too): that refusal is waited out and the reload retried, because two quick edits are
the usual case (add, then rm a typo). An error that remains, or a timeout, is "failed";
the CLI then exits non-zero, since the server keeps using the old table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from kamtool.config import Settings
from kamtool.errors import (
    KamtoolError,
    NotFound,
    OperationTimeout,
    RpcError,
    RpcUnavailable,
)

# table -> the RPC method that reloads it (Kamailio 5.6 names; kamtool's server too)
RELOAD_METHODS = {
    "address": "permissions.addressReload",
    "trusted": "permissions.trustedReload",
    "dispatcher": "dispatcher.reload",
    "domain": "domain.reload",
    "dialplan": "dialplan.reload",
    "mtree": "mtree.reload",
    "lcr": "lcr.reload",
    "carrierroute": "cr.reload_routes",
}

# Kamailio's guard counts whole seconds (time(NULL) > last + reload_delta), so a refused
# reload can need up to reload_delta + 1 s; retry twice a second until then, plus margin.
RETRY_FOR = 7.0
RETRY_EVERY = 0.5


def is_ongoing_reload(exc: KamtoolError) -> bool:
    """True for the reload guard's refusal: dispatcher's "Ongoing reload", permissions'
    "ongoing reload" (code 500, Kamailio and kamtool serve alike)."""
    return isinstance(exc, RpcError) and "ongoing reload" in exc.message.lower()


@dataclass(frozen=True)
class ReloadOutcome:
    """What happened to the reload request."""

    table: str
    status: str  # reloaded | unavailable | unused | failed | skipped
    message: str
    method: str | None = None
    url: str | None = None
    retries: int = 0
    error: KamtoolError | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "reloaded"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "error"}


def is_unknown_method(exc: KamtoolError) -> bool:
    """True when the server has no such method: the module that caches the table is not
    loaded there (Kamailio's 500 "Method Not Found", JSON-RPC's -32601)."""
    if not isinstance(exc, RpcError):
        return False
    message = str(exc.details.get("rpc_message", "")).lower()
    return exc.rpc_code == -32601 or message == "method not found"


def past_reload_guard(
    call: Callable[[], Any],
    *,
    retry_for: float | None = None,
    retry_every: float | None = None,
    on_retry: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    count: list[int] | None = None,
) -> Any:
    """``call()``, again every ``retry_every`` s for up to ``retry_for`` s while the
    server's reload guard refuses it ("Ongoing reload"); other errors, and the refusal
    once the time is up, are raised. ``on_retry`` hears about the first wait; ``count[0]``
    (when given) ends as the number of retries."""
    retry_for = RETRY_FOR if retry_for is None else retry_for
    retry_every = RETRY_EVERY if retry_every is None else retry_every
    count = [0] if count is None else count
    deadline = time.monotonic() + retry_for
    while True:
        try:
            return call()
        except RpcError as exc:
            if not is_ongoing_reload(exc) or time.monotonic() + retry_every > deadline:
                raise
            if count[0] == 0 and on_retry is not None:
                on_retry(
                    f"{exc.message}; the server allows one reload in 5 s, "
                    f"retrying for up to {retry_for:g} s"
                )
            count[0] += 1
            sleep(retry_every)


def reload_after_change(
    settings: Settings,
    table: str,
    *,
    skip: bool = False,
    client: Any = None,
    retry_for: float | None = None,
    retry_every: float | None = None,
    on_retry: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReloadOutcome:
    """Reload ``table`` (address, trusted, dispatcher, domain) on the configured endpoint.

    ``skip`` (``--no-reload``) does nothing. ``client`` (an RpcClient) is for tests and
    callers that hold one already; otherwise one is built from ``settings``. A refusal by
    the reload guard is retried every ``retry_every`` seconds for up to ``retry_for``
    seconds; ``on_retry`` hears about the first wait.
    """
    method = RELOAD_METHODS.get(table)
    if method is None:
        raise ValueError(f"no reload method for table {table!r}")
    if skip:
        return ReloadOutcome(table, "skipped", "reload skipped (--no-reload)", method)
    own = client is None
    if own:
        from kamtool.rpc.client import client_from_settings

        try:
            client = client_from_settings(settings)
        except KamtoolError as exc:
            return ReloadOutcome(table, "failed", f"not reloaded: {exc.message}", method, error=exc)
    tries = [0]
    try:
        answer = past_reload_guard(
            lambda: _call_reload(client, table, method),
            retry_for=retry_for,
            retry_every=retry_every,
            on_retry=on_retry,
            sleep=sleep,
            count=tries,
        )
    except OperationTimeout as exc:
        return ReloadOutcome(
            table, "failed", f"not reloaded: {exc.message}", method, client.url, tries[0], exc
        )
    except RpcUnavailable as exc:
        return ReloadOutcome(
            table,
            "unavailable",
            f"not reloaded (no running server answered): {exc.message}",
            method,
            client.url,
            tries[0],
        )
    except RpcError as exc:
        if not is_unknown_method(exc):
            return ReloadOutcome(
                table, "failed", f"reload failed: {exc.message}", method, client.url, tries[0], exc
            )
        return ReloadOutcome(  # the module is not loaded there: the table is not cached
            table,
            "unused",
            f"not reloaded: the server does not run the module of {table} ({exc.message})",
            method,
            client.url,
            tries[0],
        )
    except NotFound as exc:  # the server does not load this table: nothing to bring up to date
        return ReloadOutcome(
            table, "unused", f"not reloaded: {exc.message}", method, client.url, tries[0]
        )
    except KamtoolError as exc:
        return ReloadOutcome(
            table, "failed", f"reload failed: {exc.message}", method, client.url, tries[0], exc
        )
    finally:
        if own:
            client.close()
    text = answer if isinstance(answer, str) and answer else "reloaded"
    return ReloadOutcome(table, "reloaded", f"{method}: {text}", method, client.url, tries[0])


def _call_reload(client: Any, table: str, method: str) -> Any:
    if table == "trusted":  # guarded: a bare trustedReload can crash Kamailio 5.6.3
        from kamtool.core.runtime.permissions import trusted_reload

        return trusted_reload(client)
    return client.call(method)


class Reporter(Protocol):
    """Where :func:`after_edit` tells the user what happened (``kamtool.cli.output.Output``)."""

    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...


def after_edit(
    kind: str,
    settings: Settings,
    reporter: Reporter,
    *,
    change: Any = None,
    client: Any = None,
    **retry: Any,
) -> ReloadOutcome | None:
    """Bring a running server up to date after a database edit of ``kind``; never raises.

    Tables the server caches (address, trusted, dispatcher, domain) are reloaded (``retry``
    goes to :func:`reload_after_change`): success and "no server" are info lines, a
    failure or an unused table a warning (the edit stands; the caller decides whether a
    failure is fatal). A removed subscriber also loses its registrations (``ul.rm``, as
    ``kamctl rm`` does). Other kinds (alias, acl, subscriber changes) are read from the
    database on every request.
    """
    if kind in RELOAD_METHODS:
        outcome = reload_after_change(
            settings, kind, client=client, on_retry=reporter.info, **retry
        )
        if outcome.status in ("failed", "unused"):
            reporter.warn(outcome.message)
        else:
            reporter.info(outcome.message)
        return outcome
    if kind == "uacreg":
        return _sync_registrations(settings, reporter, change, client)
    if kind == "subscriber" and getattr(change, "action", None) == "removed":
        _drop_registrations(settings, getattr(change, "rows", []) or [], client)
    return None


def _drop_registrations(settings: Settings, rows: list[dict[str, Any]], client: Any) -> None:
    """``ul.rm location`` for each removed user, with and without domain (usrloc's
    ``use_domain`` decides which form it keys on). Best effort and silent."""
    own = client is None
    try:
        if own:
            from kamtool.rpc.client import client_from_settings

            client = client_from_settings(settings)
        for row in rows:
            user, domain = row.get("username"), row.get("domain")
            if not user:
                continue
            for aor in (str(user), f"{user}@{domain}") if domain else (str(user),):
                client.call("ul.rm", "location", aor)
    except KamtoolError:
        pass
    finally:
        if own and client is not None:
            client.close()


def _sync_registrations(
    settings: Settings, reporter: Reporter, change: Any, client: Any
) -> ReloadOutcome:
    """Bring the uac module up to date row by row: ``uac.reg_refresh`` (re)loads an added
    or changed registration, ``uac.reg_remove`` drops a removed one. (``uac.reg_reload``
    would reload them all, but Kamailio refuses it for ``reg_gc_interval``, 150 s, after
    the previous one.)"""
    removed = getattr(change, "action", None) == "removed"
    method = "uac.reg_remove" if removed else "uac.reg_refresh"
    own = client is None
    try:
        if own:
            from kamtool.rpc.client import client_from_settings

            client = client_from_settings(settings)
        for row in getattr(change, "rows", []) or []:
            client.call(method, str(row["l_uuid"]))
    except RpcUnavailable as exc:
        outcome = ReloadOutcome(
            "uacreg", "unavailable", f"not reloaded (no running server answered): {exc.message}",
            method,
        )  # fmt: skip
    except KamtoolError as exc:
        outcome = ReloadOutcome("uacreg", "failed", f"{method} failed: {exc.message}", method)
    else:
        outcome = ReloadOutcome("uacreg", "reloaded", f"{method}: done", method)
    finally:
        if own and client is not None:
            client.close()
    (reporter.warn if outcome.status == "failed" else reporter.info)(outcome.message)
    return outcome
