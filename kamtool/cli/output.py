"""The one renderer: rich tables for people, plain columns in pipes, JSON for scripts.

Data goes to stdout, diagnostics (confirmations, warnings, progress) to stderr.
In ``--json`` mode every command prints exactly one JSON document on stdout:
the data on success, ``{"error": {...}}`` on failure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(frozen=True)
class Column:
    """A table column: ``key`` in the row mappings, ``header`` shown to people."""

    key: str
    header: str | None = None
    justify: str = "left"
    none: str = ""  # shown to people for a missing value (JSON keeps null)

    @property
    def title(self) -> str:
        return self.header if self.header is not None else self.key.replace("_", " ").upper()


ColumnSpec = str | Column


def _columns(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[ColumnSpec] | None
) -> list[Column]:
    if columns is None:
        keys: dict[str, None] = {}
        for row in rows:
            keys.update(dict.fromkeys(row))
        columns = list(keys)
    return [c if isinstance(c, Column) else Column(c) for c in columns]


def _shown(row: Mapping[str, Any], column: Column) -> str:
    value = row.get(column.key)
    return column.none if value is None else _cell(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def to_jsonable(value: Any) -> Any:
    """Make ``value`` JSON-serialisable (dates become ISO strings, bytes are decoded)."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class Output:
    """Renders results for one command invocation."""

    def __init__(self, json_mode: bool = False, *, stdout: Any = None, stderr: Any = None):
        self.json_mode = json_mode
        self._stdout = stdout if stdout is not None else sys.stdout
        self._stderr = stderr if stderr is not None else sys.stderr
        self._console: Console | None = None
        self._err: Console | None = None

    # rich is imported only when something is drawn for a terminal: plain and JSON
    # output (scripts, pipes) do not pay for it.

    @property
    def console(self) -> Console:
        """rich console on stdout."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self._stdout, highlight=False, soft_wrap=True)
        return self._console

    @property
    def err(self) -> Console:
        """rich console on stderr."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(file=self._stderr, highlight=False, soft_wrap=True)
        return self._err

    @property
    def is_terminal(self) -> bool:
        return _isatty(self._stdout)

    def _say(self, text: str, label: str = "", style: str = "") -> None:
        """One diagnostic line on stderr: coloured on a terminal, plain otherwise."""
        if _isatty(self._stderr):
            from rich.markup import escape

            head = f"[{style}]{label}[/{style}] " if label else ""
            self.err.print(head + escape(text))
        else:
            self._stderr.write(f"{label} {text}\n" if label else f"{text}\n")
            self._stderr.flush()

    # ----------------------------------------------------------------- data out

    def json(self, data: Any) -> None:
        """Print ``data`` as one JSON document on stdout."""
        self._stdout.write(json.dumps(to_jsonable(data), indent=2, ensure_ascii=False) + "\n")
        self._stdout.flush()

    def table(
        self,
        rows: Iterable[Mapping[str, Any]],
        columns: Sequence[ColumnSpec] | None = None,
        *,
        title: str | None = None,
        empty: str = "nothing to show",
    ) -> None:
        """Rows as a table (terminal), tab-separated columns (pipe) or a JSON list."""
        rows = list(rows)
        if self.json_mode:
            self.json(rows)
            return
        if not rows:
            self.info(empty)
            return
        cols = _columns(rows, columns)
        if not self.is_terminal:
            self._stdout.write("\t".join(c.title for c in cols) + "\n")
            for row in rows:
                self._stdout.write("\t".join(_shown(row, c) for c in cols) + "\n")
            self._stdout.flush()
            return
        from rich.table import Table
        from rich.text import Text

        # Cells are Text, not markup: a value such as '^[a-z]+$' (dialplan) or '[/x]'
        # (a tag) is data and must show as it is. "fold" wraps a long URI instead of
        # cutting it with an ellipsis, so what is shown can be copied into a command.
        table = Table(title=title, header_style="bold")
        for c in cols:
            table.add_column(Text(c.title), justify=c.justify, overflow="fold")  # type: ignore[arg-type]
        for row in rows:
            table.add_row(*(Text(_shown(row, c)) for c in cols))
        self.console.print(table)

    def line(self, text: str) -> None:
        """One line of data on stdout, as it is (a status line a monitoring system reads)."""
        self._stdout.write(text + "\n")
        self._stdout.flush()

    def record(self, data: Mapping[str, Any], *, title: str | None = None) -> None:
        """One object: ``key: value`` lines for people, a JSON object for scripts."""
        if self.json_mode:
            self.json(data)
            return
        if title and self.is_terminal:
            self.console.print(f"[bold]{title}[/bold]")
        width = max((len(str(k)) for k in data), default=0)
        for key, value in data.items():
            self._stdout.write(f"{str(key):<{width}}  {_cell(value)}\n")
        self._stdout.flush()

    def data(self, data: Any) -> None:
        """Arbitrary JSON-like data: indented JSON in both modes."""
        self.json(data)

    def done(self, message: str, data: Any = None) -> None:
        """A finished action: a confirmation on stderr, or ``data`` as JSON.

        In JSON mode, ``data`` defaults to ``{"ok": true, "message": message}``.
        """
        if self.json_mode:
            self.json(data if data is not None else {"ok": True, "message": message})
        else:
            self._say(message)

    # ----------------------------------------------------------------- diagnostics

    def info(self, message: str) -> None:
        if not self.json_mode:
            self._say(message)

    def warn(self, message: str) -> None:
        self._say(message, "warning:", "yellow")

    def error(self, payload: Mapping[str, Any], hint: str | None = None) -> None:
        """Report a failure: ``{"error": ...}`` on stdout in JSON mode, else on stderr."""
        if self.json_mode:
            self.json({"error": payload})
            return
        self._say(str(payload.get("message")), "error:", "red")
        if hint:
            self._say(hint, "hint:", "bold")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
