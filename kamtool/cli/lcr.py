"""`kamtool lcr ...`: least cost routing (lcr module: lcr_gw, lcr_rule, lcr_rule_target)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.context import out
from kamtool.cli.options import NoReloadOption

NAME = "lcr"
app = typer.Typer(
    name=NAME, help="Least cost routing: gateways, rules, targets (lcr tables).",
    no_args_is_help=True,
)  # fmt: skip
gw_app = typer.Typer(help="Gateways (lcr_gw).", no_args_is_help=True)
rule_app = typer.Typer(help="Rules (lcr_rule).", no_args_is_help=True)
target_app = typer.Typer(help="Which gateways a rule uses (lcr_rule_target).",
                         no_args_is_help=True)  # fmt: skip
app.add_typer(gw_app, name="gw")
app.add_typer(rule_app, name="rule")
app.add_typer(target_app, name="target")

GW_COLUMNS = ["id", "lcr_id", "gw_name", "ip_addr", "hostname", "port", "params", "uri_scheme",
              "transport", "strip", "prefix", "tag", "flags"]  # fmt: skip
RULE_COLUMNS = ["id", "lcr_id", "prefix", "from_uri", "request_uri", "mt_tvalue", "stopper",
                "enabled"]  # fmt: skip
TARGET_COLUMNS = ["id", "lcr_id", "rule_id", "gw_id", "priority", "weight"]
SELECT_COLUMNS = ["gw_id", "gw_name", "ruri", "dst_uri", "tag"]
LcrIdOption = Annotated[str, typer.Option("--lcr-id", help="The lcr instance [1].")]


def _arg(help: str):
    return typer.Argument(help=help, show_default=False)


def _opt(name: str, help: str):
    return typer.Option(name, help=help, show_default=False)


def _import(file: Path, table: str, no_reload: bool) -> None:
    from kamtool.core import lcr

    with provision.text_input(file) as stream, provision.database() as db:
        change = lcr.import_csv(db, stream, table)
    provision.report(change, no_reload=no_reload)


# ----------------------------------------------------------------------------- gw


@gw_app.command("add")
def gw_add(
    address: Annotated[str, _arg("IP address or host name of the gateway.")],
    lcr_id: LcrIdOption = "1",
    name: Annotated[str | None, _opt("--name", "gw_name.")] = None,
    ip: Annotated[
        str | None, _opt("--ip", "With a host name: the IP to send to (the R-URI keeps the name).")
    ] = None,
    port: Annotated[str | None, _opt("--port", "Port.")] = None,
    params: Annotated[str | None, _opt("--params", "URI params, e.g. ';user=phone'.")] = None,
    scheme: Annotated[str | None, _opt("--scheme", "sip or sips.")] = None,
    transport: Annotated[str | None, _opt("--transport", "udp, tcp, tls or sctp.")] = None,
    strip: Annotated[str | None, _opt("--strip", "Digits to strip from the user.")] = None,
    prefix: Annotated[str | None, _opt("--prefix", "Prefix to add to the user.")] = None,
    tag: Annotated[str | None, _opt("--tag", "Tag.")] = None,
    flags: Annotated[str, _opt("--flags", "Flags.")] = "0",
    no_reload: NoReloadOption = False,
) -> None:
    """Add a gateway."""
    from kamtool.core import lcr, validate
    from kamtool.errors import BadInput

    try:
        address_ip, host = str(validate.ip_address(address)), None
    except BadInput:
        address_ip, host = None, address
    if ip is not None and address_ip is not None:
        raise BadInput("--ip goes with a host name: ADDRESS is an IP address already")
    provision.edit(
        lcr.gw_add, lcr_id, name, address_ip or ip, host, port, params, scheme, transport,
        strip, prefix, tag, flags, no_reload=no_reload,
    )  # fmt: skip


@gw_app.command("rm")
def gw_rm(gw_id: Annotated[str, _arg("Gateway id.")], no_reload: NoReloadOption = False) -> None:
    """Remove a gateway and its targets."""
    from kamtool.core import lcr

    provision.edit(lcr.gw_remove, gw_id, no_reload=no_reload)


@gw_app.command("show")
def gw_show(lcr_id: Annotated[str | None, _opt("--lcr-id", "Only this lcr.")] = None) -> None:
    """List the gateways in the database."""
    from kamtool.core import lcr

    provision.listing(lcr.gw_show, lcr_id, columns=GW_COLUMNS, empty="no gateways")


@gw_app.command("import")
def gw_import(file: Annotated[Path, _arg("CSV with a header ('-': stdin).")],
              no_reload: NoReloadOption = False) -> None:  # fmt: skip
    """Add gateways from CSV (columns: lcr_id, gw_name, ip_addr, hostname, port, ...)."""
    _import(file, "gw", no_reload)


# ----------------------------------------------------------------------------- rule


@rule_app.command("add")
def rule_add(
    prefix: Annotated[str | None, _arg("Request-URI user prefix ('' = any).")] = None,
    lcr_id: LcrIdOption = "1",
    from_uri: Annotated[str | None, _opt("--from-uri", "Regex on the From URI.")] = None,
    request_uri: Annotated[str | None, _opt("--request-uri", "Regex on the R-URI.")] = None,
    mt_tvalue: Annotated[str | None, _opt("--mt-tvalue", "mtree value of the caller.")] = None,
    stopper: Annotated[
        bool, typer.Option("--stopper", help="No shorter prefix after this.")
    ] = False,
    disabled: Annotated[bool, typer.Option("--disabled", help="Load it disabled.")] = False,
    no_reload: NoReloadOption = False,
) -> None:
    """Add a rule."""
    from kamtool.core import lcr

    provision.edit(
        lcr.rule_add, lcr_id, prefix, from_uri, request_uri, mt_tvalue, int(stopper),
        int(not disabled), no_reload=no_reload,
    )  # fmt: skip


@rule_app.command("rm")
def rule_rm(rule_id: Annotated[str, _arg("Rule id.")], no_reload: NoReloadOption = False) -> None:
    """Remove a rule and its targets."""
    from kamtool.core import lcr

    provision.edit(lcr.rule_remove, rule_id, no_reload=no_reload)


@rule_app.command("show")
def rule_show(lcr_id: Annotated[str | None, _opt("--lcr-id", "Only this lcr.")] = None) -> None:
    """List the rules in the database."""
    from kamtool.core import lcr

    provision.listing(lcr.rule_show, lcr_id, columns=RULE_COLUMNS, empty="no rules")


@rule_app.command("import")
def rule_import(file: Annotated[Path, _arg("CSV with a header ('-': stdin).")],
                no_reload: NoReloadOption = False) -> None:  # fmt: skip
    """Add rules from CSV (columns: lcr_id, prefix, from_uri, request_uri, mt_tvalue, ...)."""
    _import(file, "rule", no_reload)


# ----------------------------------------------------------------------------- target


@target_app.command("add")
def target_add(
    rule_id: Annotated[str, _arg("Rule id.")],
    gw_id: Annotated[str, _arg("Gateway id.")],
    priority: Annotated[str, _arg("0-255, lower first.")],
    weight: Annotated[str, _arg("1-254, chance among equal priorities [1].")] = "1",
    no_reload: NoReloadOption = False,
) -> None:
    """Let a rule use a gateway."""
    from kamtool.core import lcr

    provision.edit(lcr.target_add, rule_id, gw_id, priority, weight, no_reload=no_reload)


@target_app.command("rm")
def target_rm(
    rule_id: Annotated[str, _arg("Rule id.")],
    gw_id: Annotated[str, _arg("Gateway id.")],
    no_reload: NoReloadOption = False,
) -> None:
    """Stop a rule using a gateway."""
    from kamtool.core import lcr

    provision.edit(lcr.target_remove, rule_id, gw_id, no_reload=no_reload)


@target_app.command("show")
def target_show(lcr_id: Annotated[str | None, _opt("--lcr-id", "Only this lcr.")] = None) -> None:
    """List the targets in the database."""
    from kamtool.core import lcr

    provision.listing(lcr.target_show, lcr_id, columns=TARGET_COLUMNS, empty="no targets")


@target_app.command("import")
def target_import(file: Annotated[Path, _arg("CSV with a header ('-': stdin).")],
                  no_reload: NoReloadOption = False) -> None:  # fmt: skip
    """Add targets from CSV (columns: rule_id, gw_id, priority, weight)."""
    _import(file, "target", no_reload)


# ----------------------------------------------------------------------------- runtime


@app.command("select")
def select(
    uri_user: Annotated[str, _arg("The request URI's user, e.g. a dialled number.")],
    lcr_id: LcrIdOption = "1",
    from_uri: Annotated[str, _opt("--from-uri", "The caller's URI.")] = "",
    request_uri: Annotated[str, _opt("--request-uri", "The request URI.")] = "",
    offline: Annotated[
        bool, typer.Option("--offline", help="Select from the database, without a server.")
    ] = False,
    mtree: Annotated[
        str | None, _opt("--mtree", "With --offline: lcr's mtree tree (for mt_tvalue rules).")
    ] = None,
    char_list: Annotated[str | None, _opt("--char-list", "mtree's char_list.")] = None,
) -> None:
    """The gateways a call would try, best first (lcr.load_gws, or --offline)."""
    from kamtool.core import validate

    number = validate.integer(lcr_id, "lcr_id", minimum=1)
    if offline:
        from kamtool.core import lcr

        with provision.database() as db:
            rows = lcr.select(
                db, number, uri_user, from_uri, request_uri, mtree=mtree, char_list=char_list
            )
    else:
        from kamtool.cli.runtime import client
        from kamtool.core.runtime import lcr as rt

        with client() as rpc:
            rows = rt.load_gws(rpc, number, uri_user, from_uri, request_uri)
    out().table(rows, None if out().json_mode else SELECT_COLUMNS, empty="no gateway")


@app.command("reload")
def reload() -> None:
    """Reload gateways and rules from the database (lcr.reload)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import lcr as rt

    with client() as rpc:
        rt.reload(rpc)
    out().done("lcr reloaded")


@app.command("dump-gws")
def dump_gws() -> None:
    """The gateways as the running server holds them (lcr.dump_gws)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import lcr as rt

    with client() as rpc:
        rows = rt.dump_gws(rpc)
    out().table(rows, empty="the server holds no gateways")


@app.command("dump-rules")
def dump_rules(lcr_id: Annotated[str | None, _opt("--lcr-id", "Only this lcr.")] = None) -> None:
    """The rules as the running server holds them (lcr.dump_rules)."""
    from kamtool.cli.runtime import client
    from kamtool.core import validate
    from kamtool.core.runtime import lcr as rt

    number = validate.integer(lcr_id, "lcr_id", minimum=1) if lcr_id else None
    with client() as rpc:
        rows = rt.dump_rules(rpc, number)
    out().table(rows, empty="the server holds no rules")


@app.command("defunct")
def defunct(
    gw_id: Annotated[str, _arg("Gateway id.")],
    seconds: Annotated[str, _arg("For how long.")],
    lcr_id: LcrIdOption = "1",
) -> None:
    """Take a gateway out of service for SECONDS (lcr.defunct_gw)."""
    import time

    from kamtool.cli.runtime import client
    from kamtool.core import validate
    from kamtool.core.runtime import lcr as rt

    gw = validate.integer(gw_id, "gateway id", minimum=1)
    period = validate.integer(seconds, "seconds", minimum=0)
    until = int(time.time()) + period
    with client() as rpc:
        rt.defunct(rpc, validate.integer(lcr_id, "lcr_id", minimum=1), gw, until)
    out().done(f"gateway {gw} defunct for {period} s", {"ok": True, "gw_id": gw, "until": until})


# kamctl's spellings, hidden from the help: `kamctl lcr show_gws|show_routes|dump_gws|
# dump_routes` (kamctl's dump_routes calls lcr.dump_lcrs, which 5.6 no longer has: the
# rules are lcr.dump_rules)
app.command("show_gws", hidden=True)(gw_show)
app.command("show_routes", hidden=True)(rule_show)
app.command("dump_gws", hidden=True)(dump_gws)
app.command("dump_routes", hidden=True)(dump_rules)
