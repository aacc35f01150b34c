"""Tables drawn on a terminal show the data as it is (QA of the CLI's output).

A dialplan expression ``^[a-z]+$`` was drawn as ``^+$`` (rich took ``[a-z]`` for a
style), a tag ``[/x]`` made ``address show`` fail with a traceback (exit 1), and a long
contact URI was cut with an ellipsis on an 80-column terminal.
"""

from __future__ import annotations

import io

import pytest

from kamtool.cli.output import Output


class _Terminal(io.StringIO):
    """A stdout that says it is a terminal, as rich decides from ``isatty()``."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> _Terminal:
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.delenv("NO_COLOR", raising=False)
    return _Terminal()


def _drawn(stream: _Terminal) -> str:
    """The text of a drawn table without its borders and line breaks."""
    text = stream.getvalue()
    for ch in "│┃┏┓┗┛┡┩└┘━─┳┻╇┴┬╋":
        text = text.replace(ch, " ")
    return text


def test_markup_like_values_are_shown_verbatim(terminal: _Terminal) -> None:
    out = Output(stdout=terminal, stderr=io.StringIO())
    rows = [
        {"match_exp": "^[a-z]+$", "tag": "[/x]"},
        {"match_exp": "[bold]x[/bold]", "tag": "[red]"},
    ]
    out.table(rows, ["match_exp", "tag"])
    drawn = _drawn(terminal)
    for value in ("^[a-z]+$", "[/x]", "[bold]x[/bold]", "[red]"):
        assert value in drawn


def test_a_long_uri_is_wrapped_not_cut(terminal: _Terminal) -> None:
    out = Output(stdout=terminal, stderr=io.StringIO())
    contact = "sip:1003@192.168.100.200:5060;transport=tcp;ob"
    rows = [{"aor": "1003", "contact": contact, "user_agent": "Some Phone 1.2 " * 4}]
    out.table(rows, ["aor", "contact", "user_agent"])
    drawn = terminal.getvalue()
    assert "…" not in drawn
    # every character of the URI is drawn, in order, across the folded lines
    cells = [line.split("│")[2].strip() for line in drawn.splitlines() if line.count("│") > 3]
    assert "".join(cells) == contact
