"""Messages between the polling workers, the widgets and the app (dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class Polled(Message):
    """A poll of ``group`` succeeded; ``data`` maps section names to what was read.

    Only the newest poll of a group matters, so a burst coalesces (``can_replace``).
    """

    group: str
    data: dict[str, Any]
    at: float  # clock time the poll started

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Polled) and message.group == self.group


@dataclass
class PollFailed(Message):
    """A poll of ``group`` failed: the server is unreachable, or refused the request."""

    group: str
    error: str
    unreachable: bool

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PollFailed) and message.group == self.group


@dataclass
class ActionRequested(Message):
    """A widget asks the app to act on the server.

    ``method`` names a :class:`~kamtool.tui.source.MonitorSource` action called with
    ``args``; ``question`` (if any) is asked first; ``group`` is polled again afterwards.
    """

    description: str
    method: str
    args: tuple[Any, ...]
    group: str
    question: str | None = None


@dataclass
class ActionFinished(Message):
    """An action ran; ``error`` says why it failed, None on success."""

    description: str
    group: str
    error: str | None = None
