"""The key reference, opened with ``?``."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]kamtool monitor[/b]: a live view of Kamailio or kamtool's proxy (JSON-RPC)

[b]Anywhere[/b]
  1..5     Overview, Registrations, Calls, Dispatcher, Security
  r        poll the server now
  ?        this help            q  quit

[b]Registrations[/b]
  /        filter contacts by text (Esc clears)
  d, Del   remove the selected contact (ul.rm_contact), asks first
  w        close the selected WebSocket connection (ws.close), asks first

[b]Calls[/b]
  e        end the selected call (dlg.end_dlg, BYE both ways), asks first
  Enter    the call's ladder (its messages, from --hep udp:IP:PORT)

[b]Trace[/b] (t; with --hep): live SIP messages; Enter: the call's ladder

[b]Dispatcher[/b]
  a / i    set the destination active / inactive (dispatcher.set_state)

[b]Overview[/b]: health (OK, WARNING or CRITICAL, with the command to look
further), calls now, registrations, traffic, busiest sources, bans, and
recent events: errors, bans, dispatcher changes, health changes and the
last reload seen. Polling runs in the background: a dead server shows as
unreachable and the monitor reconnects by itself.

Esc or ? closes this help."""


class HelpScreen(ModalScreen[None]):
    """Every key of the monitor, with the RPC method each action calls."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(HELP)
