"""Ask the running server to reload a table after kamtool changed it in the database.

Provisioning commands (``address add``, ``dispatcher rm`` ...) hand their committed
:class:`~kamtool.core.writes.Change` to :func:`after_edit` (``kamtool.cli.provision``
does, unless ``--no-reload``)::

    after_edit(change.kind, settings, out, change=change)   # never raises

or call :func:`reload_after_change` directly for the outcome::

    outcome = reload_after_change(settings, "address")   # never raises
    outcome.status   # "reloaded" | "unavailable" | "failed" | "skipped"

The edit stands whatever happens: no endpoint answering is normal when only the
database is managed ("unavailable", worth an info line), an error or a timeout is a
warning ("failed", the message says why).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from kamtool.config import Settings
from kamtool.errors import KamtoolError, OperationTimeout, RpcUnavailable

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


@dataclass(frozen=True)
class ReloadOutcome:
    """What happened to the reload request."""

    table: str
    status: str  # reloaded | unavailable | failed | skipped
    message: str
    method: str | None = None
    url: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "reloaded"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reload_after_change(
    settings: Settings, table: str, *, skip: bool = False, client: Any = None
) -> ReloadOutcome:
    """Reload ``table`` (address, trusted, dispatcher, domain) on the configured endpoint.

    ``skip`` (``--no-reload``) does nothing. ``client`` (an RpcClient) is for tests and
    callers that hold one already; otherwise one is built from ``settings``.
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
            return ReloadOutcome(table, "failed", f"not reloaded: {exc.message}", method)
    try:
        if table == "trusted":  # guarded: a bare trustedReload can crash Kamailio 5.6.3
            from kamtool.core.runtime.permissions import trusted_reload

            answer = trusted_reload(client)
        else:
            answer = client.call(method)
    except OperationTimeout as exc:
        return ReloadOutcome(table, "failed", f"not reloaded: {exc.message}", method, client.url)
    except RpcUnavailable as exc:
        return ReloadOutcome(
            table,
            "unavailable",
            f"not reloaded (no running server answered): {exc.message}",
            method,
            client.url,
        )
    except KamtoolError as exc:
        return ReloadOutcome(table, "failed", f"reload failed: {exc.message}", method, client.url)
    finally:
        if own:
            client.close()
    text = answer if isinstance(answer, str) and answer else "reloaded"
    return ReloadOutcome(table, "reloaded", f"{method}: {text}", method, client.url)


class Reporter(Protocol):
    """Where :func:`after_edit` tells the user what happened (``kamtool.cli.output.Output``)."""

    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...


def after_edit(
    kind: str, settings: Settings, reporter: Reporter, *, change: Any = None, client: Any = None
) -> ReloadOutcome | None:
    """Bring a running server up to date after a database edit of ``kind``; never raises.

    Tables the server caches (address, trusted, dispatcher, domain) are reloaded: success
    and "no server" are info lines, a failure is a warning (the edit stands). A removed
    subscriber also loses its registrations (``ul.rm``, as ``kamctl rm`` does). Other
    kinds (alias, acl, subscriber changes) are read from the database on every request.
    """
    if kind in RELOAD_METHODS:
        outcome = reload_after_change(settings, kind, client=client)
        (reporter.warn if outcome.status == "failed" else reporter.info)(outcome.message)
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
