"""``kamtool shell``: kamtool's commands in an interactive shell (kamcli's ``shell``).

prompt_toolkit (kamcli uses it too; well kept, pure Python) gives the line editor,
history in the user's data directory, and completion of commands, sub-commands,
options and RPC method names (``rpc`` and ``srv rpchelp`` complete from the server's
``system.listMethods``, asked once, when first needed). The prompt names the current
instance (``-i NAME``; ``use NAME`` switches inside the shell). Each line runs as
``kamtool GLOBAL-OPTIONS LINE`` in this process, so a command's exit status is the one it
has on the command line; a non-zero one is shown as ``[exit N]``.

prompt_toolkit is imported only when the shell starts: ``kamtool --help`` stays fast.
Without a terminal (``kamtool shell < script``) the lines of stdin run one by one.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import typer
from typer._click import Context
from typer.core import TyperGroup, TyperOption

from kamtool.cli.context import out, settings

BUILTINS = {
    "help": "help [COMMAND...]: the commands, or one command's help",
    "use": "use NAME: switch to [instance.NAME] (use default: the default one)",
    "exit": "leave the shell (also quit, Ctrl-D)",
    "quit": "leave the shell",
}
# root options a line inherits from `kamtool OPTIONS shell` (click parameter -> flag)
_GLOBAL_FLAGS = {
    "db": "--db", "config": "--config", "kamctlrc": "--kamctlrc", "kamcli_ini": "--kamcli-ini",
    "rpc_url": "--rpc", "domain": "--domain", "instance": "--instance",
}  # fmt: skip
# commands whose argument is an RPC method name
RPC_METHOD_ARGS = {("rpc",), ("srv", "rpchelp")}


def history_file() -> Path:
    """``~/.local/share/kamtool/shell_history`` (beside the default database)."""
    from kamtool.config import default_db_path

    return default_db_path().parent / "shell_history"


class Shell:
    """The state of one shell session: global options, instance, the method cache."""

    def __init__(self, root_params: dict[str, Any]) -> None:
        self.params = {k: v for k, v in root_params.items() if k in _GLOBAL_FLAGS}
        self.json = settings().json  # --json before or after `shell`, or KAMTOOL_JSON
        self._methods: list[str] | None = None
        self.status = 0

    # ------------------------------------------------------------------ lines

    @property
    def instance(self) -> str | None:
        return self.params.get("instance")

    @property
    def prompt(self) -> str:
        return f"kamtool[{self.instance}]> " if self.instance else "kamtool> "

    def global_args(self) -> list[str]:
        args: list[str] = []
        for key, flag in _GLOBAL_FLAGS.items():
            if self.params.get(key) is not None:
                args += [flag, str(self.params[key])]
        return args + (["--json"] if self.json else [])

    def run_line(self, line: str) -> bool:
        """Run one line; False when the shell should end."""
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            out().warn(f"cannot read that line: {exc}")
            return True
        if not words:
            return True
        head = words[0]
        if head in ("exit", "quit"):
            return False
        if head == "use":
            self._use(words[1:])
            return True
        if head == "help":
            words = [*words[1:], "--help"] if len(words) > 1 else ["--help"]
        elif head == "shell":
            out().warn("already in the shell")
            return True
        from kamtool.cli.main import main

        self.status = main(self.global_args() + words)
        if self.status:
            print(f"[exit {self.status}]", file=sys.stderr)
        if head == "help" and len(words) == 1:
            print("Shell: " + "; ".join(BUILTINS.values()))
        return True

    def _use(self, args: list[str]) -> None:
        if len(args) != 1:
            out().warn("use NAME (the [instance.NAME] sections: instance list)")
            return
        from kamtool.config import instance_names

        name = args[0]
        if name == "default":
            self.params["instance"] = None
        elif name not in instance_names(settings()):
            out().warn(f"no [instance.{name}] in the configuration (instance list)")
            return
        else:
            self.params["instance"] = name
        self._methods = None  # another server: another method list

    # ------------------------------------------------------------------ completion data

    def rpc_methods(self) -> list[str]:
        """The server's methods (system.listMethods), [] when it cannot be asked."""
        if self._methods is None:
            self._methods = []
            try:
                from kamtool.config import load_settings
                from kamtool.rpc.client import client_from_settings

                s = load_settings(
                    config_file=self.params.get("config"),
                    kamctlrc=self.params.get("kamctlrc"),
                    kamcli_ini_file=self.params.get("kamcli_ini"),
                    instance=self.instance,
                    overrides={"db_url": self.params.get("db"),
                               "rpc_url": self.params.get("rpc_url")},
                )  # fmt: skip
                rpc = client_from_settings(s)
                try:
                    self._methods = sorted(str(m) for m in rpc.call("system.listMethods"))
                finally:
                    rpc.close()
            except Exception:  # no server, or not one we can reach: complete without
                self._methods = []
        return self._methods


# --------------------------------------------------------------------------- completion


def _root_group() -> TyperGroup:
    from kamtool.cli.main import app

    return typer.main.get_command(app)  # type: ignore[return-value]


def _resolve(group: Any, words: list[str]) -> tuple[Any, list[str]]:
    """The command ``words`` lead to and the path of names taken (options skipped)."""
    from kamtool.cli.lazy import COMMANDS, load_module_commands

    cmd, path = group, []
    for word in words:
        if word.startswith("-") or not isinstance(cmd, TyperGroup):
            continue
        if cmd is group:
            if word not in COMMANDS:
                break
            cmd = load_module_commands(COMMANDS[word][0], word).get_command(Context(group), word)
        else:
            nxt = cmd.get_command(Context(cmd), word)
            if nxt is None:
                break
            cmd = nxt
        path.append(word)
    return cmd, path


def candidates(shell: Shell, words: list[str], current: str) -> Iterator[tuple[str, str]]:
    """(completion, description) for the word being typed after ``words``."""
    from kamtool.cli.lazy import COMMANDS

    root = _root_group()
    if words[:1] == ["help"]:
        words = words[1:]
    if not [w for w in words if not w.startswith("-")]:
        if current.startswith("-"):
            yield from _options(root, current)
            return
        for name, (_, help_) in sorted({**COMMANDS, **{b: ("", h) for b, h in
                                                       BUILTINS.items()}}.items()):  # fmt: skip
            if name.startswith(current):
                yield name, help_
        return
    cmd, path = _resolve(root, words)
    if current.startswith("-"):
        yield from _options(cmd, current)
        return
    if isinstance(cmd, TyperGroup) and cmd is not root:
        ctx = Context(cmd)
        for name in cmd.list_commands(ctx):
            if name.startswith(current):
                yield name, cmd.get_command(ctx, name).get_short_help_str(60)
        return
    positional = [w for w in words[len(path):] if not w.startswith("-")]  # fmt: skip
    if tuple(path) in RPC_METHOD_ARGS and not positional:
        for method in shell.rpc_methods():
            if method.startswith(current):
                yield method, "RPC method"


def _options(cmd: Any, current: str) -> Iterable[tuple[str, str]]:
    for param in getattr(cmd, "params", []):
        if isinstance(param, TyperOption):
            for opt in param.opts + param.secondary_opts:
                if opt.startswith(current):
                    yield opt, (param.help or "")[:60]


def _completer(shell: Shell):
    from prompt_toolkit.completion import Completer, Completion

    class KamtoolCompleter(Completer):
        def get_completions(self, document, complete_event):
            text = document.text_before_cursor
            current = document.get_word_before_cursor(WORD=True)
            try:
                words = shlex.split(text[: len(text) - len(current)])
            except ValueError:
                return
            for word, meta in candidates(shell, words, current):
                yield Completion(word, start_position=-len(current), display_meta=meta)

    return KamtoolCompleter()


# --------------------------------------------------------------------------- the command


def shell(ctx: typer.Context) -> None:
    """Run kamtool's commands in an interactive shell (history, completion, help)."""
    root_params = dict(ctx.parent.params) if ctx.parent is not None else {}
    sh = Shell(root_params)
    if not sys.stdin.isatty():
        for line in sys.stdin:
            if not sh.run_line(line):
                break
        raise typer.Exit(sh.status)
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    path = history_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(
        history=FileHistory(str(path)), completer=_completer(sh), complete_while_typing=False
    )
    print("kamtool shell: help lists the commands, Tab completes, Ctrl-D leaves.")
    while True:
        try:
            line = session.prompt(sh.prompt)
        except KeyboardInterrupt:
            continue  # Ctrl-C drops the line, as in a shell
        except EOFError:
            break
        if not sh.run_line(line):
            break


def register(root: typer.Typer) -> None:
    """Add ``kamtool shell`` to the root app."""
    root.command("shell")(shell)
