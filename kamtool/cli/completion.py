"""Shell completion for bash, zsh and fish.

``kamtool --show-completion [SHELL]`` prints the script, ``kamtool --install-completion
[SHELL]`` installs it where the shell reads it (Typer's locations: ``~/.bash_completions/``
sourced from ``~/.bashrc``, ``~/.zfunc/`` with ``~/.zshrc``, ``~/.config/fish/completions/``);
without SHELL the running shell is detected. The script calls ``kamtool`` back with
``_KAMTOOL_COMPLETE`` set, and Typer's completion classes (registered by :func:`prepare`,
only then) answer with commands, options and, where that is cheap, values:

* RPC method names (``rpc METHOD``) from the server's ``system.listMethods``,
* statistic groups and names (``stats``) from ``stats.get_statistics all``,
* hash table names (``htable dump TABLE``) from ``htable.listTables``,
* dispatcher sets and row ids (``dispatcher rmset SETID``, ``rm ID``) from the database,
* schema groups (``dbctl create --group``).

Root options (``kamtool --rpc URL --db URL ...``) given before the command are honoured.
A value completer never fails and never waits long: no answer within a second, or no
database, means no suggestions. The Typer modules are imported only by these paths, so
``kamtool --help`` does not pay for them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

from kamtool.errors import BadInput

PROG = "kamtool"
COMPLETE_VAR = "_KAMTOOL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
AUTO = "auto"  # the value of a bare --show-completion / --install-completion
RPC_TIMEOUT = 1.0  # seconds a completer waits for the server


def requested() -> bool:
    """True when the shell is asking for completions (the script sets the variable)."""
    return bool(os.environ.get(COMPLETE_VAR))


def prepare() -> None:
    """Register Typer's completion classes, which read the shells' requests."""
    from typer._completion_classes import completion_init

    completion_init()


def detect_shell(value: str) -> str:
    """``value``, or the running shell for :data:`AUTO`; one of :data:`SHELLS`."""
    shell = value.strip().lower()
    if shell == AUTO:
        shell = ""
        try:
            import shellingham

            shell = shellingham.detect_shell()[0]
        except Exception:  # no parent shell found (cron, CI): fall back to $SHELL
            shell = os.path.basename(os.environ.get("SHELL", ""))
    if shell not in SHELLS:
        raise BadInput(
            f"shell {shell or 'unknown'!r} is not supported for completion",
            hint="name it: --show-completion bash|zsh|fish",
        )
    return shell


def show(value: str | None) -> None:
    """The ``--show-completion`` callback: print the script and stop."""
    if value is None:
        return
    from typer._completion_shared import get_completion_script

    shell = detect_shell(value)
    prepare()
    typer.echo(get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell))
    raise typer.Exit()


def install(value: str | None) -> None:
    """The ``--install-completion`` callback: write the script where the shell reads it."""
    if value is None:
        return
    from typer._completion_shared import install as typer_install

    shell = detect_shell(value)
    prepare()
    shell, path = typer_install(shell=shell, prog_name=PROG, complete_var=COMPLETE_VAR)
    typer.echo(f"{shell} completion installed in {path}; it takes effect in a new shell", err=True)
    raise typer.Exit()


# --------------------------------------------------------------------------- values


def _settings(ctx: typer.Context) -> Any:
    """The settings the command would run with: root flags, environment, files."""
    from kamtool.config import load_settings

    root = ctx.find_root().params
    return load_settings(
        config_file=root.get("config"),
        kamctlrc=root.get("kamctlrc"),
        kamcli_ini_file=root.get("kamcli_ini"),
        instance=root.get("instance"),
        overrides={"db_url": root.get("db"), "rpc_url": root.get("rpc_url")},
    )


def _rpc_call(ctx: typer.Context, method: str, *params: Any) -> Any:
    from kamtool.rpc.client import client_from_settings

    settings = _settings(ctx)
    short = dataclasses.replace(settings, rpc_timeout=min(settings.rpc_timeout, RPC_TIMEOUT))
    rpc = client_from_settings(short)
    try:
        return rpc.call(method, *params)
    finally:
        rpc.close()


@contextmanager
def _database(ctx: typer.Context) -> Iterator[Any]:
    """The configured database, never created: a missing SQLite file raises."""
    from pathlib import Path

    from kamtool.db.connect import connected, parse_url

    url = _settings(ctx).effective_db_url
    u = parse_url(url)
    if u.engine == "sqlite" and not Path(u.path or "").expanduser().is_file():
        raise FileNotFoundError(u.path)
    with connected(url, auto_create=False, create_dir=False) as db:
        yield db


Item = str | tuple[str, str]


def _quietly(source: Callable[[typer.Context], list[Item]]) -> Callable[..., list[Item]]:
    """A completer from ``source(ctx)``: filtered by the word typed, [] on any failure."""

    def complete(ctx: typer.Context, incomplete: str) -> list[Item]:
        try:
            items = source(ctx)
        except Exception:  # no server, no database, a timeout: just no suggestions
            return []
        return [i for i in items if (i if isinstance(i, str) else i[0]).startswith(incomplete)]

    complete.__doc__ = source.__doc__
    return complete


@_quietly
def rpc_methods(ctx: typer.Context) -> list[Item]:
    """The server's JSON-RPC methods."""
    return sorted(str(m) for m in _rpc_call(ctx, "system.listMethods") or [])


@_quietly
def stat_selectors(ctx: typer.Context) -> list[Item]:
    """``group:`` for each statistics group, then ``group:name`` for each statistic."""
    from kamtool.core.runtime.stats import stat_rows

    rows = stat_rows(_rpc_call(ctx, "stats.get_statistics", "all"))
    groups = sorted({f"{r['group']}:" for r in rows})
    return [*groups, *(f"{r['group']}:{r['name']}" for r in rows)]


@_quietly
def htable_names(ctx: typer.Context) -> list[Item]:
    """The server's hash tables."""
    answer = _rpc_call(ctx, "htable.listTables") or []
    return [str(t["name"]) for t in answer if isinstance(t, dict) and t.get("name")]


@_quietly
def dispatcher_sets(ctx: typer.Context) -> list[Item]:
    """Dispatcher set ids in the database, with their destinations."""
    from kamtool.core.dispatcher_db import show as rows

    with _database(ctx) as db:
        found = rows(db)
    sets: dict[str, list[str]] = {}
    for r in found:
        sets.setdefault(str(r["setid"]), []).append(str(r["destination"]))
    return [(s, ", ".join(d)) for s, d in sets.items()]


@_quietly
def dispatcher_ids(ctx: typer.Context) -> list[Item]:
    """Dispatcher row ids in the database, with set and destination."""
    from kamtool.core.dispatcher_db import show as rows

    with _database(ctx) as db:
        found = rows(db)
    return [(str(r["id"]), f"set {r['setid']} {r['destination']}") for r in found]


@_quietly
def schema_groups(ctx: typer.Context) -> list[Item]:
    """kamdbctl's schema groups, with their table counts."""
    from kamtool.db.schema import GROUP_NAMES, tables_in

    return [(g, f"{len(tables_in([g]))} tables") for g in GROUP_NAMES]
