"""Runtime commands over JSON-RPC: ``stats``, ``ps``, ``uptime``, ``version``, ``info``,
``debug``; plus the JSON-RPC plumbing the other runtime groups share (:func:`client`) and
the run-time sub-commands of the provisioning groups (``dispatcher list``, ``address
dump`` ...), attached by those groups with one ``add_*_commands(app)`` line each."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from kamtool.cli import completion
from kamtool.cli.context import out, settings
from kamtool.cli.output import Column

if TYPE_CHECKING:
    from kamtool.rpc.client import RpcClient


@contextmanager
def client() -> Iterator[RpcClient]:
    """The JSON-RPC client for ``--rpc`` / ``KAMTOOL_RPC_URL`` / ``[rpc]``, closed afterwards."""
    from kamtool.rpc.client import client_from_settings

    rpc = client_from_settings(settings())
    try:
        yield rpc
    finally:
        rpc.close()


# --------------------------------------------------------------------------- stats

STAT_COLUMNS = [Column("group"), Column("name"), Column("value", justify="right")]
RATE_COLUMNS = [*STAT_COLUMNS, Column("rate", "RATE/S", justify="right")]


def stats(
    selectors: Annotated[
        list[str] | None,
        typer.Argument(
            help="all (default), GROUP: (e.g. core: usrloc:) or statistic names.",
            autocompletion=completion.stat_selectors,
        ),
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Reset the statistics to 0.")] = False,
    watch: Annotated[
        float | None,
        typer.Option(
            "--watch",
            help="Every SECONDS, show per-second rates (JSON: one line per sample).",
            metavar="SECONDS",
            min=0.1,
        ),
    ] = None,  # fmt: skip
    count: Annotated[
        int, typer.Option("--count", help="With --watch: stop after N samples (0 = never).")
    ] = 0,
) -> None:
    """Show statistics (kamctl stats / kamcmd stats.get_statistics)."""
    from kamtool.core.runtime import stats as core_stats

    sel = list(selectors or [])
    with client() as rpc:
        if reset:
            core_stats.reset(rpc, core_stats.resolve(rpc, sel))
            out().done(f"statistics reset: {' '.join(sel) or 'all'}")
            return
        if watch is None:
            out().table(core_stats.get_found(rpc, sel), STAT_COLUMNS, empty="no statistics")
            return
        _watch(rpc, sel, watch, count)


def _watch(rpc: RpcClient, sel: list[str], interval: float, count: int) -> None:
    import json

    from kamtool.core.runtime import stats as core_stats

    o = out()
    sel = core_stats.resolve(rpc, sel)
    before, t0 = core_stats.sample(rpc, sel), time.monotonic()
    n = 0
    while count <= 0 or n < count:
        time.sleep(interval)
        after, t1 = core_stats.sample(rpc, sel), time.monotonic()
        rows = core_stats.rates(before, after, t1 - t0)
        if not sel:  # everything: only what moved
            rows = [r for r in rows if r["rate"]]
        stamp = datetime.now().strftime("%H:%M:%S")
        if o.json_mode:
            line = {"time": stamp, "seconds": round(t1 - t0, 3), "stats": rows}
            print(json.dumps(line), flush=True)
        else:
            if o.is_terminal:
                o.console.clear()  # one screen that updates, like `watch`
            o.table(rows, RATE_COLUMNS, title=f"{stamp} (per second)", empty=f"{stamp}: no change")
        before, t0 = after, t1
        n += 1


def _guarded_reload(call: Callable[[], str]) -> str:
    """``call()`` (a reload), waiting out the server's 5 s reload guard."""
    from kamtool.core.reload import past_reload_guard

    return past_reload_guard(call, on_retry=out().info)


# --------------------------------------------------------------------------- core.*


def ps() -> None:
    """The server's processes (kamctl ps)."""
    from kamtool.core.runtime import system

    with client() as rpc:
        rows = system.processes(rpc)
    out().table(rows, [Column("index", "IDX", "right"), Column("pid", "PID", "right"),
                       Column("description")])  # fmt: skip


def uptime() -> None:
    """When the server started and how long it has run (core.uptime)."""
    from kamtool.core.runtime import system

    with client() as rpc:
        out().record(system.uptime(rpc))


def version() -> None:
    """The server's version (core.version)."""
    from kamtool.core.runtime import system

    with client() as rpc:
        text = system.version(rpc)
    if out().json_mode:
        out().json({"version": text})
    else:
        print(text)


def info() -> None:
    """Build details of the server (core.info)."""
    from kamtool.core.runtime import system

    with client() as rpc:
        out().record(system.info(rpc))


def debug(
    level: Annotated[
        int | None,
        typer.Argument(help="New level (-5..5; 3 = debug). Negative: `debug -- -1`."),
    ] = None,
) -> None:
    """Show or set the core log level (cfg.get / cfg.seti core debug)."""
    from kamtool.core.runtime import system

    with client() as rpc:
        result = system.debug(rpc, level)
    if level is None:
        if out().json_mode:
            out().json(result)
        else:
            print(result["debug"])
        return
    out().done(f"debug level {result['previous']} -> {result['debug']}", result)


def online(
    table: Annotated[str, typer.Option("--table", help="usrloc table (domain).")] = "location",
) -> None:
    """Users online: AoRs with a contact that has not expired (kamctl online, from ul.dump)."""
    from kamtool.core.runtime import usrloc

    with client() as rpc:
        rows = usrloc.online(rpc, table=table)
    if out().json_mode:
        out().json(rows)
    elif not rows:
        out().info("no user online")
    else:
        print("\n".join(r["aor"] for r in rows))  # one AoR a line, as kamctl prints them


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.command("online")(online)
    root.command("stats")(stats)
    root.command("ps")(ps)
    root.command("uptime")(uptime)
    root.command("version")(version)
    root.command("info")(info)
    root.command("debug")(debug)


# --------------------------------------------------------------------------- provisioning groups

DISPATCHER_COLUMNS = [
    Column("set_id", "SET", "right"), Column("uri", "URI"), Column("flags"), Column("state"),
    Column("priority", "PRIO", "right"), Column("attrs"),
]  # fmt: skip
# shown when the server keeps them (latency statistics, call load)
DISPATCHER_RUNTIME_COLUMNS = [
    Column("latency_avg", "AVG ms", "right"), Column("latency_est", "EST ms", "right"),
    Column("latency_max", "MAX ms", "right"), Column("timeouts", "TIMEOUTS", "right"),
    Column("load", "LOAD", "right"),
]  # fmt: skip


def add_dispatcher_commands(app: typer.Typer) -> None:
    """``dispatcher list | reload | set-state | ping-active`` (run-time state over JSON-RPC)."""

    @app.command("list")
    def dispatcher_list() -> None:
        """Destinations as the running server sees them (state A/I/D/T, P = probing)."""
        from kamtool.core.runtime import dispatcher

        with client() as rpc:
            rows = dispatcher.list_destinations(rpc)
        extra = [c for c in DISPATCHER_RUNTIME_COLUMNS if any(c.key in r for r in rows)]
        for row in rows:  # floats as Kamailio prints them are long: two decimals for people
            for key in ("latency_avg", "latency_est"):
                if isinstance(row.get(key), float) and not out().json_mode:
                    row[key] = round(row[key], 2)
        out().table(rows, DISPATCHER_COLUMNS + extra, empty="no dispatcher destinations loaded")

    app.command("dump", hidden=True)(dispatcher_list)  # kamctl's name for it

    @app.command("reload")
    def dispatcher_reload() -> None:
        """Reload the destinations from the database (dispatcher.reload)."""
        from kamtool.core.runtime import dispatcher

        with client() as rpc:
            message = _guarded_reload(lambda: dispatcher.reload(rpc))
        out().done(message, {"ok": True, "message": message})

    @app.command("set-state")
    def dispatcher_set_state(
        state: Annotated[
            str, typer.Argument(help="active|inactive|disabled|trying[+probing], or a, ip, ...")
        ],
        set_id: Annotated[
            int,
            typer.Argument(help="Destination set id.", autocompletion=completion.dispatcher_sets),
        ],
        uri: Annotated[str, typer.Argument(help="Destination URI, or 'all'.")],
    ) -> None:
        """Change a destination's state (dispatcher.set_state)."""
        from kamtool.core.runtime import dispatcher

        with client() as rpc:
            message = dispatcher.set_state(rpc, state, set_id, uri)
        out().done(message, {"ok": True, "message": message})

    @app.command("ping-active")
    def dispatcher_ping_active(
        switch: Annotated[
            str | None,
            typer.Argument(help="on or off; without it, show the current setting."),
        ] = None,
    ) -> None:
        """Show or switch the OPTIONS probing of destinations (dispatcher.ping_active)."""
        from kamtool.core.runtime import dispatcher
        from kamtool.errors import BadInput

        choice = {"on": True, "1": True, "off": False, "0": False}
        if switch is not None and switch.lower() not in choice:
            raise BadInput(f"expected on or off, not {switch!r}")
        with client() as rpc:
            state = dispatcher.ping_active(rpc, None if switch is None else choice[switch.lower()])
        word = "on" if state["active"] else "off"
        out().done(f"dispatcher probing is {word}", {"ok": True, **state})


ADDRESS_COLUMNS = [
    Column("group", "GRP", "right"), Column("ip", "IP"), Column("mask", justify="right"),
    Column("port", justify="right"), Column("tag"),
]  # fmt: skip


def add_address_commands(app: typer.Typer) -> None:
    """``address reload | dump``."""

    @app.command("reload")
    def address_reload() -> None:
        """Reload the address table from the database (permissions.addressReload)."""
        from kamtool.core.runtime import permissions

        with client() as rpc:
            message = _guarded_reload(lambda: permissions.address_reload(rpc))
        out().done(message, {"ok": True, "message": message})

    @app.command("dump")
    def address_dump() -> None:
        """The address table as the running server holds it (addressDump + subnetDump)."""
        from kamtool.core.runtime import permissions

        with client() as rpc:
            rows = permissions.address_dump(rpc)
        out().table(rows, ADDRESS_COLUMNS, empty="the server holds no addresses")


def add_trusted_commands(app: typer.Typer) -> None:
    """``trusted reload | dump``."""

    @app.command("reload")
    def trusted_reload() -> None:
        """Reload the trusted table from the database (permissions.trustedReload)."""
        from kamtool.core.runtime import permissions

        with client() as rpc:
            message = _guarded_reload(lambda: permissions.trusted_reload(rpc))
        out().done(message, {"ok": True, "message": message})

    @app.command("dump")
    def trusted_dump() -> None:
        """The trusted table as the running server holds it (permissions.trustedDump)."""
        from kamtool.core.runtime import permissions

        with client() as rpc:
            rows = permissions.trusted_dump(rpc)
        out().table(rows, empty="the server holds no trusted entries")


def add_domain_commands(app: typer.Typer) -> None:
    """``domain reload | dump``."""

    @app.command("reload")
    def domain_reload() -> None:
        """Reload the domain table from the database (domain.reload)."""
        from kamtool.core.runtime import domains

        with client() as rpc:
            domains.reload(rpc)
        out().done("domains reloaded")

    @app.command("dump")
    def domain_dump() -> None:
        """The domains the running server holds (domain.dump)."""
        from kamtool.core.runtime import domains

        with client() as rpc:
            rows = domains.dump(rpc)
        out().table(rows, ["domain", "did"], empty="the server holds no domains")
