"""Sub-commands that are imported only when they run.

Importing every command module (and with them peewee, httpx, the SIP core ...) made
``kamtool --help`` and ``kamtool add`` pay for all of kamtool. The root group lists the
commands from :data:`COMMANDS` and imports a module only when its command is resolved.
``tests/test_cli_lazy.py`` checks that this table and the modules agree.
"""

from __future__ import annotations

import importlib

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup

# name -> (module, one-line help shown by `kamtool --help`)
# ruff: noqa: E501
COMMANDS: dict[str, tuple[str, str]] = {
    "add": ("kamtool.cli.subscriber", "Add a subscriber (ha1, ha1b and the password as kamctl add writes them)."),
    "rm": ("kamtool.cli.subscriber", "Remove a subscriber with its ACL groups and aliases."),
    "passwd": ("kamtool.cli.subscriber", "Change a subscriber's password."),
    "show": ("kamtool.cli.subscriber", "List subscribers (user, domain; no secrets unless --secrets)."),
    "import": ("kamtool.cli.subscriber", "Add many subscribers from a CSV file, all or nothing."),
    "db": ("kamtool.cli.db", "Raw SQL on the Kamailio database: query, show, runfile, showcreate (read-only unless --write)."),
    "dbctl": ("kamtool.cli.dbctl", "Create, drop, show, back up, restore, copy and migrate the Kamailio database (what kamdbctl does)."),
    "address": ("kamtool.cli.address", "IP address groups (permissions address table)."),
    "trusted": ("kamtool.cli.trusted", "Trusted peers (permissions trusted table)."),
    "dispatcher": ("kamtool.cli.dispatcher", "Dispatcher destinations (dispatcher table)."),
    "domain": ("kamtool.cli.domain", "Local SIP domains (domain table)."),
    "alias": ("kamtool.cli.alias", "User aliases (dbaliases table)."),
    "dialplan": ("kamtool.cli.dialplan", "Number translation rules (dialplan table)."),
    "mtree": ("kamtool.cli.mtree", "Prefix trees (mtrees table)."),
    "uacreg": ("kamtool.cli.uacreg", "Upstream registrations (uac module, uacreg table)."),
    "speeddial": ("kamtool.cli.speeddial", "Speed dials of users (speed_dial table)."),
    "avp": ("kamtool.cli.avp", "User preferences loaded as AVPs (usr_preferences table)."),
    "rpid": ("kamtool.cli.rpid", "Remote-Party-ID of users (rpid preference)."),
    "subscriber": ("kamtool.cli.subscriber_attrs", "Extra columns of subscriber rows (kamcli setattrs/setattri/setattrnull)."),
    "lcr": ("kamtool.cli.lcr", "Least cost routing: gateways, rules, targets (lcr tables)."),
    "cr": ("kamtool.cli.cr", "Carrier routing: carriers, domains, routes (carrierroute tables)."),
    "acc": ("kamtool.cli.acc", "Call detail records (acc, missed_calls tables)."),
    "acl": ("kamtool.cli.acl", "ACL groups of users (grp table)."),
    "ul": ("kamtool.cli.ul", "Registrations in the running server (usrloc)."),
    "dlg": ("kamtool.cli.dlg", "Dialogs in the running server (dialog module)."),
    "htable": ("kamtool.cli.htable", "Hash tables in the running server (htable)."),
    "pike": ("kamtool.cli.pike", "Flood detection in the running server (pike)."),
    "tm": ("kamtool.cli.tm", "Transactions in the running server (tm)."),
    "online": ("kamtool.cli.runtime", "Users online: AoRs with a contact that has not expired (kamctl online, from ul.dump)."),
    "trace": ("kamtool.cli.trace", "Show the server's SIP messages as they happen, grouped by call (sngrep for the CLI)."),
    "ping": ("kamtool.cli.ping", "Send a SIP OPTIONS to URI; print the reply's status line and the round trip."),
    "stats": ("kamtool.cli.runtime", "Show statistics (kamctl stats / kamcmd stats.get_statistics)."),
    "ps": ("kamtool.cli.runtime", "The server's processes (kamctl ps)."),
    "uptime": ("kamtool.cli.runtime", "When the server started and how long it has run (core.uptime)."),
    "version": ("kamtool.cli.runtime", "The server's version (core.version)."),
    "info": ("kamtool.cli.runtime", "Build details of the server (core.info)."),
    "debug": ("kamtool.cli.runtime", "Show or set the core log level (cfg.get / cfg.seti core debug)."),
    "rpc": ("kamtool.cli.rpc", "Call a JSON-RPC method and print its result as JSON (kamcmd / kamctl rpc)."),
    "serve": ("kamtool.cli.serve", "Run kamtool's SIP proxy: registrar with digest auth, location, stateful relay, dialogs."),
    "config": ("kamtool.cli.config", "Effective settings and where they came from; an example file."),
    "instance": ("kamtool.cli.instance", "Named servers: the instance.NAME tables of kamtool.toml (-i NAME)."),
    "apply": ("kamtool.cli.apply", "Make the database what FILE says (one transaction), then reload what changed."),
    "export": ("kamtool.cli.apply", "Write the database's provisioning tables as a desired-state file."),
    "drift": ("kamtool.cli.apply", "Compare FILE, the database and the running server; exit 9 naming each difference."),
    "diagnose": ("kamtool.cli.diagnose", "Check server, database and certificates; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."),
    "monitor": ("kamtool.cli.monitor", "Watch the SIP server live: traffic, registrations, calls, dispatcher, bans, health."),
    "demo": ("kamtool.cli.demo", "Try kamtool with nothing else installed: proxy, two phones and a call, in the monitor."),
    "srv": ("kamtool.cli.srv", "The server: sockets, aliases, modules, RPC methods, run info."),
    "shm": ("kamtool.cli.shm", "Shared memory of the server (one pool for all processes)."),
    "pkg": ("kamtool.cli.pkg", "Private (per-process) memory of the server."),
    "tcp": ("kamtool.cli.tcp", "TCP settings and connections of the server."),
    "tls": ("kamtool.cli.tls", "TLS certificates and the server's TLS connections."),
    "pipelimit": ("kamtool.cli.pipelimit", "Rate-limiting pipes of the server (pipelimit)."),
    "shv": ("kamtool.cli.shv", "Shared variables of the server ($shv)."),
    "trap": ("kamtool.cli.trap", "Full gdb backtraces of every server process into a file, and where they wait."),
    "pstrap": ("kamtool.cli.trap", "As trap, with each process's ps line (state, memory, CPU, wait channel)."),
    "shell": ("kamtool.cli.shell", "Run kamtool's commands in an interactive shell (history, completion, help)."),
    "sipreq": ("kamtool.cli.sipreq", "Send any SIP request and print every reply with its time."),
}  # fmt: skip


# kamctl's command names for kamtool's commands (hidden: resolved, not listed)
KAMCTL_COMMANDS = {
    "alias_db": "alias",  # kamctl's alias_db edits dbaliases; its `alias` is usrloc
    "aliasdb": "alias",
    "dialog": "dlg",
    "speed_dial": "speeddial",
    "usrloc": "ul",
    "fifo": "rpc",
    "kamcmd": "rpc",
    "sercmd": "rpc",
    "ser": "rpc",
    "moni": "monitor",
    "console": "monitor",
    "con": "monitor",
}
# kamctl's commands that are sub-commands in kamtool: `kamctl sets USER COLUMN VALUE`
KAMCTL_SUBCOMMANDS = {
    "sets": ("subscriber", "setattrs"),
    "setn": ("subscriber", "setattri"),
}


def load_module_commands(module_name: str, only: str | None = None) -> _click.Group:
    """Build the click group holding what ``module_name`` contributes to the root
    (with ``only``: just that top-level command).

    A module exports either ``app`` with ``NAME`` (a command group) or ``register(root)``
    (top-level commands).
    """
    module = importlib.import_module(module_name)
    holder = typer.Typer()
    if hasattr(module, "register"):
        module.register(holder)
        if only is not None:
            # Typer reads the signature and type hints of every registered function to
            # build its click command: `kamtool add` needs `add`, not rm, passwd, show ...
            commands = holder.registered_commands
            holder.registered_commands = [c for c in commands if c.name == only]
    else:
        holder.add_typer(module.app, name=module.NAME)
    from kamtool.cli import usage

    return usage.apply(typer.main.get_group(holder))


class _Placeholder(TyperCommand):
    """Stands for a command in help listings until it is really needed."""

    def __init__(self, name: str, module: str, help: str) -> None:
        super().__init__(name, help=help, short_help=help)
        self.module = module


class LazyGroup(TyperGroup):
    """The root group: lists every command, imports a command's module only to run it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, (module, help) in COMMANDS.items():
            self.commands.setdefault(name, _Placeholder(name, module, help))
        from kamtool.cli import usage

        usage.apply(self)  # the root options' metavars (the commands get theirs on loading)

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands:
            name = _kamcli_alias(ctx, args[0])
            if name in KAMCTL_SUBCOMMANDS:
                args = [*KAMCTL_SUBCOMMANDS[name], *args[1:]]
            else:
                args = [KAMCTL_COMMANDS.get(name, name), *args[1:]]
        name, cmd, rest = super().resolve_command(ctx, args)
        if isinstance(cmd, _Placeholder):
            cmd = load_module_commands(cmd.module, cmd.name).get_command(ctx, cmd.name)
            self.commands[cmd.name] = cmd
        return name, cmd, rest


def _kamcli_alias(ctx, name: str) -> str:
    """The kamtool command a kamcli alias names (kamcli.ini [cmdaliases], kamcli's built-in
    ``acl``/``rpc``/``sht``), else ``name`` itself. Read only for unknown names."""
    import os
    from pathlib import Path

    from kamtool import config, kamcli_ini

    given = ctx.params.get("kamcli_ini")
    try:
        ini = kamcli_ini.load(
            os.environ.get("HOME"), Path(given) if given else None, config.SYSTEM_KAMCLI_INI
        )
    except Exception:  # a broken file is reported by the root callback, with its exit status
        return name
    # kamcli's own aliases (sht, subs ...) hold without any kamcli.ini, as in kamcli
    builtin = kamcli_ini.KAMCLI_COMMANDS.get(kamcli_ini.BUILTIN_ALIASES.get(name, ""))
    return ini.aliases.get(name) or builtin or name
