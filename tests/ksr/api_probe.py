"""Running tests/ksr/scripts/api_probe.py on a real Kamailio 5.6 (with
tests/support/kamailio-kemi-api.cfg) or on ``kamtool serve --route`` (with the same htables
declared in ``[proxy] htables``), and reading what its KSR calls returned."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.interop.wire import Msg, Peer
from tests.ksr.conftest import SCRIPTS
from tests.support.kemi import KemiTarget, kemi_server
from tests.support.ports import low_free_port

API_CFG = Path(__file__).resolve().parents[1] / "support" / "kamailio-kemi-api.cfg"
PROBE_SCRIPT = SCRIPTS / "api_probe.py"
# the htables of kamailio-kemi-api.cfg, in kamtool's [proxy] setting
HTABLES_TOML = 'htables = ["cache=>size=8;autoexpire=60;", "counters=>size=4;initval=0;"]'
# and uac's restore_mode "none" and the dialog profiles (kamailio-kemi-api.cfg's)
PROXY_TOML = HTABLES_TOML + (
    '\nuac_restore_mode = "none"\n'
    'dlg_profiles_with_value = "caller"\ndlg_profiles_no_value = "calls"'
)
HEADERS = [
    "X-A: val", "X-B: bval", "X-Multi: m1", "X-Multi: m2", "X-C: c", "X-D: d",
    "X-E: old", "X-F: one", "X-G1: g",
]  # fmt: skip
BODY = "hello world"
CONTACT_GROUPS = {"state"}  # groups whose request has a Contact (fix_nated_contact)


@contextmanager
def api_server(name: str, base: Path) -> Iterator[KemiTarget]:
    """``name`` ("kamailio" or "kamtool") running the probe script."""
    kw: dict[str, Any] = (
        {"config": API_CFG} if name == "kamailio" else {"proxy_toml": PROXY_TOML}
    )
    with kemi_server(name, base, PROBE_SCRIPT, sip_port=low_free_port(), **kw) as t:
        yield t


Probed = tuple[list[tuple[str, str]], Msg, Msg | None]


def probe(target: KemiTarget, out_dir: Path, group: str, *, relay: Peer | None = None,
          transport: str = "udp", body: str = BODY,
          content_type: str | None = "text/plain") -> Probed:  # fmt: skip
    """Send a MESSAGE for ``group`` (with ``body`` of ``content_type``: None leaves the
    header out); return ((expression, result) in order, the final reply, the request
    ``relay`` received when given)."""
    out = out_dir / f"{group}-{uuid.uuid4().hex}.jsonl"
    typed = [f"Content-Type: {content_type}"] if content_type is not None else []
    headers = [*HEADERS, *typed, f"X-Out: {out}"]
    with Peer(transport, target.sip_port) as caller:
        uri = f"sip:{group}@127.0.0.1:{target.sip_port};transport={transport}"
        if relay is not None:
            headers.append(f"X-Relay: sip:127.0.0.1:{relay.port}")
        if group in CONTACT_GROUPS:  # the caller's own address: a Contact not NATed
            headers.append(f"Contact: {caller.contact('1001')}")
        caller.send(caller.request("MESSAGE", uri, headers=headers, body=body))
        got = None
        if relay is not None:
            got = relay.recv()
            relay.reply_to(got, 200, "OK")
        final = caller.recv()
        while final.status < 200:
            final = caller.recv()
    lines = out.read_text().splitlines()
    return [tuple(r) for r in json.loads(lines[-1])["results"]], final, got
