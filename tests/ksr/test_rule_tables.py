"""The dialplan and mtree modules on ``kamtool serve``: the RPCs (``dialplan.reload``,
``dialplan.translate``, ``dialplan.dump``, ``mtree.reload/list/match/summary``) answer as a
real Kamailio 5.6 with the same rows does (the same assertions run against both), kamtool's
own ``dialplan``/``mtree`` commands work against kamtool serve, and a route script's
``KSR.dialplan``/``KSR.mtree`` calls translate and match SIP requests' R-URI users."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from tests.interop.wire import Peer
from tests.ksr.conftest import SCRIPTS
from tests.provisioning.conftest import create_standard_tables
from tests.provisioning.test_modules_kamailio import (
    CHARS,
    DIALPLAN_RULES,
    MTREE_ROWS,
    Server,
)
from tests.provisioning.test_modules_kamailio import (
    test_dialplan_edit_reload_and_kamailio_refusing_a_bad_row as dialplan_edit_and_refusal,
)
from tests.provisioning.test_modules_kamailio import (
    test_dialplan_rows_reach_kamailio_and_translations_agree as dialplan_rows_and_translations,
)
from tests.provisioning.test_modules_kamailio import (
    test_mtree_removal_and_csv_import_reach_kamailio as mtree_removal_and_import,
)
from tests.provisioning.test_modules_kamailio import (
    test_mtree_rows_reach_kamailio_and_matches_agree as mtree_rows_and_matches,
)
from tests.support.kamailio import require_kamailio

TARGETS = [pytest.param("kamailio", marks=pytest.mark.kamailio), "kamtool"]
PROXY_TOML = 'dp_attrs_pvar = "$var(dpattrs)"\nmt_char_list = "0123456789*#+"'


class Target(Server):
    """A :class:`Server` (database URL, server, kamtool commands pointed at both) that
    knows its name and SIP port."""

    def __init__(self, name: str, url: str, server) -> None:
        super().__init__(url, server)
        self.name = name

    def fault(self, method: str, *params) -> str:
        """The error of an RPC that must fail, as the test client reports it."""
        with pytest.raises(RuntimeError) as info:
            self.k.rpc(method, *params)
        return str(info.value)


@pytest.fixture(scope="module", params=TARGETS)
def server(request, tmp_path_factory):
    """Kamailio 5.6 with the dialplan and mtree modules, or ``kamtool serve --route``
    running tests/ksr/scripts/rule_lookups.py, on SQLite."""
    base = tmp_path_factory.mktemp(f"rules-{request.param}")
    with ExitStack() as stack:
        if request.param == "kamailio":
            require_kamailio()
            from tests.support.databases import database
            from tests.support.kamailio_modules import ModulesKamailio

            url = stack.enter_context(database("sqlite", base))
            create_standard_tables(url)
            k = stack.enter_context(ModulesKamailio(base, db=url))
        else:
            from tests.support.kemi import KemiKamtool

            k = stack.enter_context(
                KemiKamtool(base, SCRIPTS / "rule_lookups.py", proxy_toml=PROXY_TOML)
            )
            url = k.db_url  # kamtool made every table, mtrees too
        yield Target(request.param, url, k)


def _load_rows(server: Target) -> None:
    server.clear("dialplan", "mtrees")
    for rule in DIALPLAN_RULES:
        server.ok("dialplan", "add", *rule, "--no-reload")
    for row in MTREE_ROWS:
        server.ok("mtree", "add", *row, *CHARS, "--no-reload")
    server.ok("dialplan", "reload")
    server.ok("mtree", "reload")


def test_dialplan_rpc_answers(server):
    _load_rows(server)
    rpc = server.k.rpc
    assert rpc("dialplan.reload") == {}
    assert rpc("dialplan.dump", 2) == {"DPID": 2, "ENTRIES": [
        {"ENTRY": {"PRIO": 2, "MATCHOP": 0, "MATCHEXP": "Abc", "MATCHLEN": 3,
                   "SUBSTEXP": None, "REPLEXP": "exact", "ATTRS": None}},
        {"ENTRY": {"PRIO": 1, "MATCHOP": 1, "MATCHEXP": "^x", "MATCHLEN": 0,
                   "SUBSTEXP": None, "REPLEXP": "lit\\0", "ATTRS": None}},
    ]}  # fmt: skip
    first = rpc("dialplan.dump", 1)["ENTRIES"][0]["ENTRY"]
    assert first == {"PRIO": 30, "MATCHOP": 2, "MATCHEXP": "9[0-4]*", "MATCHLEN": 4,
                     "SUBSTEXP": "^9(...)", "REPLEXP": "\\1|\\0\\n", "ATTRS": "fn"}  # fmt: skip
    assert rpc("dialplan.translate", 1, "0049301") == {"Output": "+49301", "Attributes": "intl"}
    assert rpc("dialplan.translate", 1, "112") == {"Output": "sos", "Attributes": "emergency"}
    assert rpc("dialplan.translate", 1, "5x") == {"Output": "", "Attributes": "no-repl"}
    assert "'code': 500, 'message': 'No translation'" in server.fault(
        "dialplan.translate", 1, "zzz"
    )
    assert "'message': 'Dialplan ID not matched'" in server.fault("dialplan.translate", 7, "1")
    assert "'message': 'Dialplan ID not matched'" in server.fault("dialplan.dump", 7)


def test_mtree_rpc_answers(server):
    _load_rows(server)
    rpc = server.k.rpc
    assert rpc("mtree.reload") == "Ok. Mtrees reloaded."
    assert [(r["tname"], r["tprefix"], r["tvalue"]) for r in rpc("mtree.list")] == [
        ("cc", "1", ["nanp"]), ("cc", "1212", ["nyc"]), ("cc", "49", ["de"]),
        ("cc", "4930", ["berlin"]), ("cc", "*9", ["star"]), ("cc", "+44", ["uk"]),
        ("gw", "0", ["local"]), ("gw", "00", ["intl"]),
    ]  # fmt: skip
    assert rpc("mtree.list", "gw") == [
        {"tname": "gw", "tprefix": "0", "tvalue": ["local"]},
        {"tname": "gw", "tprefix": "00", "tvalue": ["intl"]},
    ]
    items = {s["table"]: s["item"] for s in rpc("mtree.summary")}
    for name, nodes, count, memsize in (("cc", 10, 6, 3147), ("gw", 2, 2, 635)):
        item = items[name]
        assert (item["ttype"], item["nrnodes"], item["nritems"]) == (0, nodes, count)
        assert item["memsize"] == memsize
        assert item["reload_time"] > 1_700_000_000
    assert rpc("mtree.match", "cc", "493012", 0) == {"PREFIX": "4930", "TVALUE": "berlin"}
    assert rpc("mtree.match", "cc", "4931", 0) == {"PREFIX": "4931", "TVALUE": "de"}
    assert rpc("mtree.match", "cc", "493012", 2) == {"PREFIX": "4930", "TVALUE": "berlin"}
    assert "'code': 404, 'message': 'Prefix not found'" in server.fault("mtree.match", "cc", "5", 0)
    assert "'code': 404, 'message': 'Tree not found'" in server.fault("mtree.match", "none", "1", 0)
    assert "Invalid parameter 'mode'" in server.fault("mtree.match", "cc", "1", 1)


# kamtool's own commands against the server: the provisioning interop tests, as they run
# against Kamailio in tests/provisioning/test_modules_kamailio.py


def test_dialplan_commands(server):
    dialplan_rows_and_translations(server)
    dialplan_edit_and_refusal(server)


def test_mtree_commands(server):
    mtree_rows_and_matches(server)
    mtree_removal_and_import(server)


# ------------------------------------------------------------------- KSR over SIP


def ask(server: Target, user: str, op: str) -> str:
    """The reason phrase of rule_lookups.py's answer to an OPTIONS for ``user``."""
    with Peer("udp", server.k.sip_port) as p:
        r = p.ask(p.request("OPTIONS", f"sip:{user}@127.0.0.1", headers=[f"X-Op: {op}"]))
    assert r.status == 200, r.first
    return r.reason


def test_ksr_dialplan_and_mtree_in_a_route(server):
    """``KSR.dialplan`` and ``KSR.mtree`` in a route script, over SIP (kamtool only: the
    Kamailio of these tests runs a native cfg, not a KEMI script)."""
    if server.name != "kamtool":
        pytest.skip("the KSR route runs on kamtool serve only")
    _load_rows(server)
    assert ask(server, "0049301", "translate 1") == "rc=1 out=+49301 attrs=intl"
    assert ask(server, "0301", "translate 1") == "rc=1 out=+49301 attrs="
    assert ask(server, "112", "replace 1") == "rc=1 out=sos attrs=emergency"
    # \u is the R-URI and $rU the user, inside a route (over RPC they stay as written)
    assert ask(server, "4abc", "replace 1") == "rc=1 out=abc4abcsip:4abc@127.0.0.1 attrs=vars"
    assert ask(server, "4abc", "match 1") == "rc=1 out=4abc attrs=vars"
    assert ask(server, "zzz", "translate 1") == "rc=-1 out=zzz attrs=-"
    assert ask(server, "6", "replace 1") == "rc=-1 out=- attrs=-"  # the rule's subst fails
    assert ask(server, "1", "translate 9") == "rc=-1 out=1 attrs=-"  # no such dpid
    assert ask(server, "493012", "mtree cc 0") == "rc=1 out=berlin attrs=-"
    assert ask(server, "4931", "mtree cc 0") == "rc=1 out=de attrs=-"
    assert ask(server, "4931", "mtree cc 2") == "rc=1 out=de attrs=-"
    assert ask(server, "5", "mtree cc 0") == "rc=-1 out= attrs=-"
    assert ask(server, "49a", "mtree cc 0") == "rc=-1 out= attrs=-"  # 'a' not in char_list
    assert ask(server, "1", "mtree none 0") == "rc=-1 out= attrs=-"
    # a row changed in the database counts after the reload only
    server.ok("dialplan", "add", "9", "1", "equal", "1", "0", "", "one", "", "--no-reload")
    assert ask(server, "1", "translate 9") == "rc=-1 out=1 attrs=-"
    server.ok("dialplan", "reload")
    assert ask(server, "1", "translate 9") == "rc=1 out=one attrs="
