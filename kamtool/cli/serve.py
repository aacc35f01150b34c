"""``kamtool serve``: run the embedded SIP proxy (registrar, digest auth, stateful relay)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kamtool.cli.context import current


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.command("serve")(serve)


def serve(
    listen: Annotated[
        list[str] | None,
        typer.Option(
            "--listen",
            "-l",
            help="proto:IP:port to listen on (udp, tcp or tls); repeat it. Replaces the "
            "default udp+tcp 127.0.0.1:5060.",
            show_default=False,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (overrides the global --db).", show_default=False),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain", help="SIP domain served (besides the listen IPs).", show_default=False
        ),
    ] = None,
    rpc_listen: Annotated[
        str | None,
        typer.Option(
            "--rpc-listen",
            help="IP:port of the JSON-RPC server (default 127.0.0.1:5071; '' disables it).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="kamtool TOML file (its \\[proxy] section).", show_default=False
        ),
    ] = None,
    db_mode: Annotated[
        int | None,
        typer.Option(
            "--db-mode",
            help="usrloc db_mode: 0 memory, 1 write-through, 2 write-back, 3 DB only.",
            show_default=False,
        ),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Do not authenticate anybody (labs only).")
    ] = False,
    no_pike: Annotated[
        bool,
        typer.Option(
            "--no-pike", help="No flood detection: never ban a source (labs, load tests)."
        ),
    ] = False,
    pike_density: Annotated[
        int | None,
        typer.Option(
            "--pike-density",
            help="Requests per sampling unit that get a source banned (pike "
            "reqs_density_per_unit, default 200).",
            show_default=False,
        ),
    ] = None,
    pike_unit: Annotated[
        float | None,
        typer.Option(
            "--pike-unit",
            help="Pike's sampling time unit in seconds (default 2).",
            show_default=False,
        ),
    ] = None,
    dispatch_set: Annotated[
        int | None,
        typer.Option(
            "--dispatch-set",
            help="Dispatcher set for INVITEs to 9<digits> (default 1).",
            show_default=False,
        ),
    ] = None,
    dispatch_alg: Annotated[
        int | None,
        typer.Option(
            "--dispatch-alg",
            help="Dispatcher algorithm: 0 Call-ID hash, 4 round-robin (default), "
            "6 random, 8 first by priority, 9 weight=, 11 rweight=, 13 latency.",
            show_default=False,
        ),
    ] = None,
    max_calls_per_caller: Annotated[
        int | None,
        typer.Option(
            "--max-calls-per-caller",
            help="Concurrent calls a caller (From user) may have; more get 403 (0 = no limit).",
            show_default=False,
            min=0,
        ),
    ] = None,
    max_calls_per_callee: Annotated[
        int | None,
        typer.Option(
            "--max-calls-per-callee",
            help="Concurrent calls a local user may receive; more get 486 (0 = no limit).",
            show_default=False,
            min=0,
        ),
    ] = None,
    max_calls: Annotated[
        int | None,
        typer.Option(
            "--max-calls",
            help="Concurrent calls through the proxy; more get 503 (0 = no limit).",
            show_default=False,
            min=0,
        ),
    ] = None,
    route: Annotated[
        Path | None,
        typer.Option(
            "--route",
            help="A KEMI Python route script (import KSR) instead of the built-in route.",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
    syslog: Annotated[
        bool, typer.Option("--syslog", help="Log to syslog (/dev/log) instead of stderr.")
    ] = False,
    tls_certificate: Annotated[
        str | None,
        typer.Option(
            "--tls-certificate",
            help="PEM certificate (chain) of tls listeners.",
            show_default=False,
        ),
    ] = None,
    tls_private_key: Annotated[
        str | None,
        typer.Option(
            "--tls-private-key", help="PEM private key of that certificate.", show_default=False
        ),
    ] = None,
    tls_ca_list: Annotated[
        str | None,
        typer.Option(
            "--tls-ca-list",
            help="PEM CA certificates to verify TLS peers with.",
            show_default=False,
        ),
    ] = None,
    nat: Annotated[
        bool | None,
        typer.Option(
            "--nat/--no-nat",
            help="NAT fix-ups for clients behind NAT (default on).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            "--workers",
            help="Processes sharing the SIP sockets (SO_REUSEPORT), or 'auto' for one per "
            "CPU (default 1).",
            show_default=False,
        ),
    ] = None,
    natping_interval: Annotated[
        int | None,
        typer.Option(
            "--natping-interval",
            help="Seconds between OPTIONS keepalives to NATed UDP contacts (default 30; 0: off).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run kamtool's SIP proxy: registrar with digest auth, location, stateful relay, dialogs."""
    from kamtool.config import load_settings
    from kamtool.proxy.config import proxy_config
    from kamtool.proxy.config_workers import parse_workers
    from kamtool.proxy.server import run
    from kamtool.rpc.server.proxy import start_proxy_rpc

    settings = current().settings
    if config is not None:
        settings = load_settings(
            config_file=config,
            overrides={"db_url": db or settings.db_url or None, "sip_domain": domain},
        )
    level = getattr(logging, log_level.upper(), logging.INFO)
    if syslog:
        from logging.handlers import SysLogHandler

        handler: logging.Handler = SysLogHandler(address="/dev/log")
        handler.setFormatter(logging.Formatter("kamtool[%(process)d]: %(name)s: %(message)s"))
        logging.basicConfig(level=level, handlers=[handler])
    else:
        logging.basicConfig(
            level=level,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    logging.getLogger("peewee").setLevel(logging.INFO)  # SQL at debug level is noise
    cfg = proxy_config(
        settings,
        listen=listen,
        db_url=db,
        domain=domain,
        rpc_listen=rpc_listen,
        db_mode=db_mode,
        auth=False if no_auth else None,
        tls_certificate=tls_certificate,
        tls_private_key=tls_private_key,
        tls_ca_list=tls_ca_list,
        nat=nat,
        natping_interval=natping_interval,
        pike=False if no_pike else None,
        pike_reqs_density_per_unit=pike_density,
        pike_sampling_time_unit=pike_unit,
        dispatch_set=dispatch_set,
        dispatch_alg=dispatch_alg,
        max_calls_per_caller=max_calls_per_caller,
        max_calls_per_callee=max_calls_per_callee,
        max_calls=max_calls,
        route=str(route) if route is not None else None,
        workers=parse_workers(workers) if workers is not None else None,
    )
    logging.getLogger("kamtool.serve").info(
        "kamtool proxy on %s", ", ".join(str(x) for x in cfg.listen)
    )
    from kamtool.db.url import db_identity
    from kamtool.proxy.config import parse_host_port
    from kamtool.rpc.discovery import server_urls, serving, update_record

    # recorded in the runtime directory: `kamtool ul show` then finds this server, and an
    # edit of this database reloads this server first (see kamtool.rpc.discovery)
    urls = (
        server_urls(*parse_host_port(cfg.rpc_listen), cfg.rpc_runtime_dir) if cfg.rpc_listen else []
    )
    from kamtool.cli.monitor import _monitor_settings

    # /metrics judges the health rules with the [monitor] thresholds, as diagnose does
    limits, _ = _monitor_settings(settings.section("monitor"), [], None)
    with serving(urls, db=db_identity(cfg.db_url) if cfg.db_url else None) as record:

        async def rpc(server: Any) -> Any:
            started = await start_proxy_rpc(server, limits=limits)
            bound = getattr(started, "endpoints", None)  # (worker 0 of several listens)
            if record is not None and bound is not None:
                update_record(record, bound)  # the FIFO or socket may be another's
            return started

        if cfg.workers == 1:
            run(cfg, rpc=rpc)
            return
        from kamtool.proxy.workers.runtime import WorkerRuntime
        from kamtool.proxy.workers.supervisor import Supervisor

        def run_worker(config: Any, ctx: Any, restarted: bool, ready: Any) -> None:
            run(config, rpc=rpc, worker=WorkerRuntime(ctx, restarted=restarted), ready=ready)

        Supervisor(cfg, run_worker).run()
