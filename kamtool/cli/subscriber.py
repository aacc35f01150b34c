"""Top-level subscriber commands, kamctl's verbs: add, rm, passwd, show, plus CSV import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.context import out, settings
from kamtool.cli.options import NoReloadOption

UserArg = Annotated[
    str, typer.Argument(help="user, user@domain or sip:user@domain.", show_default=False)
]
PasswordArg = Annotated[
    str, typer.Argument(help="The password; '-' reads it from stdin.", show_default=False)
]


def add(
    user: UserArg,
    password: PasswordArg,
    email: Annotated[
        str | None,
        typer.Option(
            "--email",
            help="E-mail address (only for tables with email_address).",
            show_default=False,
        ),
    ] = None,
    no_reload: NoReloadOption = False,
) -> None:
    """Add a subscriber (ha1, ha1b and the password as kamctl add writes them)."""
    from kamtool.core import subscribers

    who = provision.user(user)
    secret = provision.password_arg(password)
    s = settings()
    if (s.aliases_type or "").upper() == "UL":  # kamctl checks the server's aliases then
        from kamtool.cli.runtime import client
        from kamtool.core import aliases_ul

        with client() as rpc:
            aliases_ul.refuse_subscriber_over_alias(rpc, who)
    provision.edit(
        subscribers.add, who, secret, store_plaintext=s.store_plaintext_pw, email=email,
        algorithm=s.ha1_algorithm, no_reload=no_reload,
    )  # fmt: skip


def rm(user: UserArg, no_reload: NoReloadOption = False) -> None:
    """Remove a subscriber with its ACL groups and aliases."""
    from kamtool.core import subscribers

    who = provision.user(user)
    provision.edit(subscribers.remove, who, no_reload=no_reload)


def passwd(user: UserArg, password: PasswordArg) -> None:
    """Change a subscriber's password."""
    from kamtool.core import subscribers

    who = provision.user(user)
    secret = provision.password_arg(password)
    s = settings()
    # no reload: auth_db reads the table on every request
    provision.edit(
        subscribers.passwd, who, secret, store_plaintext=s.store_plaintext_pw,
        algorithm=s.ha1_algorithm, no_reload=True,
    )  # fmt: skip


def show(
    user: Annotated[str | None, typer.Argument(help="Only this user.", show_default=False)] = None,
    secrets: Annotated[
        bool, typer.Option("--secrets", help="Also show password, ha1 and ha1b (sensitive).")
    ] = False,
) -> None:
    """List subscribers (user, domain; no secrets unless --secrets)."""
    from kamtool.core import subscribers

    who = provision.user(user) if user is not None else None
    with provision.database() as db:
        rows = subscribers.show(db, who, secrets=secrets)
    columns = ["id", "username", "domain"]
    if rows and "email" in rows[0]:
        columns.append("email")
    if secrets:
        columns += ["password", "ha1", "ha1b"]
    provision.show(rows, columns, empty="no subscribers")


def import_(
    file: Annotated[Path, typer.Argument(help="CSV file ('-' for stdin).", show_default=False)],
    skip_existing: Annotated[
        bool,
        typer.Option("--skip-existing", help="Leave users that exist alone instead of failing."),
    ] = False,
    no_reload: NoReloadOption = False,
) -> None:
    """Add many subscribers from a CSV file, all or nothing.

    Lines are USER,PASSWORD, or a header names the username, password and (optional)
    domain columns. See the README for the format.
    """
    import sys

    from kamtool.core import importer
    from kamtool.errors import BadInput

    s = settings()
    try:
        if str(file) == "-":
            entries = importer.read_csv(
                sys.stdin, default_domain=s.sip_domain, store_plaintext=s.store_plaintext_pw,
                algorithm=s.ha1_algorithm,
            )  # fmt: skip
        else:
            with file.open(encoding="utf-8-sig", newline="") as fh:
                entries = importer.read_csv(
                    fh, default_domain=s.sip_domain, store_plaintext=s.store_plaintext_pw,
                    algorithm=s.ha1_algorithm,
                )  # fmt: skip
    except OSError as exc:
        raise BadInput(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{file} is not UTF-8 text") from None
    with provision.database() as db, _progress(len(entries)) as advance:
        change = importer.import_users(db, entries, skip_existing=skip_existing, progress=advance)
    provision.report(change, no_reload=no_reload)


def _progress(total: int):
    """A progress bar on stderr for people; nothing for scripts (pipe or --json)."""
    from contextlib import contextmanager

    @contextmanager
    def bar():
        o = out()
        if o.json_mode or not o.err.is_terminal:
            yield lambda n: None
            return
        from rich.progress import Progress

        with Progress(console=o.err, transient=True) as progress:
            task = progress.add_task("importing", total=total)
            yield lambda n: progress.advance(task, n)

    return bar()


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.command("add")(add)
    root.command("rm")(rm)
    root.command("passwd")(passwd)
    root.command("show")(show)
    root.command("import")(import_)
