"""The trusted table's patterns mean on kamtool what they mean on Kamailio 5.6: the
permissions module compiles them with ``regcomp(REG_NOSUB)``, POSIX *basic* expressions,
where ``| + ? ( )`` are plain characters and ``\\| \\( \\)`` GNU's operators. kamtool read
them with Python's ``re``, so ``^sip:gw|carrier`` trusted any From containing ``carrier``
(authentication skipped) where Kamailio trusts none. The same rows and requests run on a
real Kamailio (app_python3, tests/ksr/scripts/trusted_probe.py) and on ``kamtool serve``.

A pattern regcomp() refuses runs on kamtool only: Kamailio 5.6.3 logs "invalid regular
expression" and then its worker dies of SIGSEGV, taking the server down with it (a bug;
kamtool skips the row, and ``kamtool trusted add`` refuses such a pattern)."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.interop.wire import Peer
from tests.ksr.conftest import SCRIPTS, TARGETS
from tests.support.kemi import kemi_server
from tests.support.ports import low_free_port

# (from_pattern, ruri_pattern) rows for our own address; each From user below is matched
# by at most the row written for it
ROWS = [
    ("^sip:gw|carrier@", None),  # BRE: a literal "gw|carrier" (which no SIP user can be)
    ("^sip:100+@", None),  # a literal "100+"
    ("^sip:\\(alice\\|bob\\)@", None),  # GNU BRE grouping and alternation
    ("^sip:[[:digit:]]\\{4\\}x@", None),  # a bracket class and an interval
    ("^sip:r7@", "^sip:ruri7@"),  # both patterns must match
]
CASES = [
    ("carrier", "sip:any@127.0.0.1", -1),
    ("1000", "sip:any@127.0.0.1", -1),
    ("100+", "sip:any@127.0.0.1", 1),
    ("bob", "sip:any@127.0.0.1", 1),
    ("alice", "sip:any@127.0.0.1", 1),
    ("(alice)", "sip:any@127.0.0.1", -1),
    ("1234x", "sip:any@127.0.0.1", 1),
    ("123x", "sip:any@127.0.0.1", -1),
    ("r7", "sip:ruri7@127.0.0.1", 1),
    ("r7", "sip:other@127.0.0.1", -1),
]


def _load(t, rows: list[tuple[str, str | None]]) -> None:
    """The trusted table is ``rows`` (written as another tool would, unchecked), reloaded."""
    db = sqlite3.connect(t.server.db_file, timeout=10)
    with db:
        db.execute("DELETE FROM trusted")
        db.executemany(
            "INSERT INTO trusted (src_ip, proto, from_pattern, ruri_pattern, priority) "
            "VALUES ('127.0.0.1', 'any', ?, ?, 0)", rows,
        )  # fmt: skip
    db.close()
    deadline = time.monotonic() + 15
    while True:  # Kamailio refuses a reload within 5 s of the last one
        try:
            t.rpc("permissions.trustedReload")
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _trusted(t, user: str, ruri: str) -> str:
    with Peer("udp", t.sip_port) as p:
        r = p.ask(p.request("OPTIONS", ruri, from_user=user))
    assert r.status == 200, r.first
    return r.reason


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"trusted-{request.param}")
    with kemi_server(request.param, base, SCRIPTS / "trusted_probe.py",
                     sip_port=low_free_port()) as t:  # fmt: skip
        _load(t, ROWS)
        yield t


@pytest.mark.parametrize(("user", "ruri", "expected"), CASES)
def test_patterns_are_posix_basic_expressions(target, user, ruri, expected):
    assert _trusted(target, user, ruri) == f"trusted {expected}"


def test_a_row_whose_pattern_is_invalid_never_matches(tmp_path):
    with kemi_server("kamtool", tmp_path, SCRIPTS / "trusted_probe.py",
                     sip_port=low_free_port()) as t:  # fmt: skip
        _load(t, [("^sip:bad\\(@", None), ("^sip:good@", None)])
        assert _trusted(t, "bad(", "sip:any@127.0.0.1") == "trusted -1"
        assert _trusted(t, "good", "sip:any@127.0.0.1") == "trusted 1"
        assert "invalid regular expression" in t.log_text()
