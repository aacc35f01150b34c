"""DB edits trigger reloads (``kamtool.core.reload``): outcomes against a fake server, and
end to end with a real Kamailio whose database kamtool edits."""

from __future__ import annotations

import json

import pytest

from kamtool.config import Settings
from kamtool.core.reload import after_edit, reload_after_change
from kamtool.core.writes import Change
from tests.rpc.fakes import FakeHttp, replay
from tests.support.cli import invoke
from tests.support.ports import free_port


class Recorder:
    def __init__(self) -> None:
        self.infos: list[str] = []
        self.warnings: list[str] = []

    def info(self, message: str) -> None:
        self.infos.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def settings(url: str) -> Settings:
    return Settings(rpc_url=url, rpc_timeout=2.0)


def methods(srv: FakeHttp) -> list[str]:
    return [req["method"] for _, req in srv.requests]


@pytest.mark.parametrize(
    ("kind", "method"),
    [("address", "permissions.addressReload"), ("dispatcher", "dispatcher.reload"),
     ("domain", "domain.reload")],
)  # fmt: skip
def test_reloaded(kind, method):
    rec = Recorder()
    with FakeHttp(replay()) as srv:
        outcome = after_edit(kind, settings(srv.url), rec)
    assert outcome.status == "reloaded" and outcome.method == method
    assert methods(srv) == [method]
    assert rec.warnings == [] and method in rec.infos[0]


def test_error_reply_is_a_warning_and_skip_does_nothing():
    rec = Recorder()
    with FakeHttp(replay({"dispatcher.reload": "dispatcher.reload.too_soon"})) as srv:
        outcome = after_edit("dispatcher", settings(srv.url), rec, retry_for=0)
        skipped = reload_after_change(settings(srv.url), "address", skip=True)
    assert outcome.status == "failed" and "Ongoing reload" in rec.warnings[0]
    assert outcome.error is not None and outcome.error.rpc_code == 500
    assert skipped.status == "skipped" and methods(srv) == ["dispatcher.reload"]


def test_ongoing_reload_is_waited_out_and_retried():
    """Kamailio's reload guard refuses twice, then accepts: the reload is not dropped."""
    refusals = {"dispatcher.reload": 2, "permissions.addressReload": 2}

    def handler(req):
        if refusals.get(req["method"], 0) > 0:
            refusals[req["method"]] -= 1
            text = "Ongoing reload" if req["method"] == "dispatcher.reload" else "ongoing reload"
            doc = {"jsonrpc": "2.0", "id": req["id"], "error": {"code": 500, "message": text}}
            return 500, json.dumps(doc).encode()
        return replay()(req)

    rec = Recorder()
    sleeps: list[float] = []
    with FakeHttp(handler) as srv:
        ds = after_edit("dispatcher", settings(srv.url), rec, sleep=sleeps.append)
        addr = after_edit("address", settings(srv.url), rec, sleep=sleeps.append)
    assert (ds.status, ds.retries) == ("reloaded", 2) and (addr.status, addr.retries) == (
        "reloaded",
        2,
    )
    assert methods(srv) == ["dispatcher.reload"] * 3 + ["permissions.addressReload"] * 3
    assert sleeps == [0.5] * 4 and rec.warnings == []
    assert any("retrying" in line for line in rec.infos)


def test_no_server_is_only_info():
    rec = Recorder()
    outcome = after_edit("domain", settings(f"http://127.0.0.1:{free_port()}/RPC"), rec)
    assert outcome.status == "unavailable" and rec.warnings == [] and rec.infos


def test_trusted_reload_is_not_sent_without_a_trusted_table():
    """Kamailio 5.6.3 segfaults on trustedReload without a trusted table."""
    over = {"permissions.trustedDump": "error.unknown_method"}

    def handler(req):
        if req["method"] == "permissions.trustedDump":
            doc = {"jsonrpc": "2.0", "id": req["id"],
                   "error": {"code": 500, "message": "No trusted table"}}  # fmt: skip
            return 500, json.dumps(doc).encode()
        return replay(over)(req)

    rec = Recorder()
    with FakeHttp(handler) as srv:
        outcome = after_edit("trusted", settings(srv.url), rec)
    assert outcome.status == "unused" and "no trusted table" in rec.warnings[0]
    assert methods(srv) == ["permissions.trustedDump"]


def test_removed_subscriber_loses_its_registrations():
    change = Change("subscriber", "removed", rows=[{"username": "1001", "domain": "d.test"}])
    with FakeHttp(replay({"ul.rm": "ul.rm"})) as srv:
        assert after_edit("subscriber", settings(srv.url), Recorder(), change=change) is None
    assert [req["params"] for _, req in srv.requests] == [
        ["location", "1001"], ["location", "1001@d.test"],
    ]  # fmt: skip


@pytest.mark.kamailio
def test_provisioning_edits_reach_a_running_kamailio(kamailio):
    k = kamailio

    def kt(*args):
        r = invoke("--db", k.db_url, "--rpc", k.rpc_http_url, "--json", *args)
        assert r.exit_code == 0, (args, r.stdout, r.stderr)
        return r

    def dumped():
        return {a["item"]["ip"] for a in k.rpc("permissions.addressDump")}

    # the JSON says whether the change is live (a script cannot read stderr's notes)
    assert kt("address", "add", "1", "10.1.1.1", "--no-reload").json()["reload"] == {
        "status": "skipped"
    }
    assert "10.1.1.1" not in dumped()
    assert kt("address", "add", "1", "10.2.2.2").json()["reload"]["status"] == "reloaded"
    assert {"10.1.1.1", "10.2.2.2"} <= dumped()
    dead = f"http://127.0.0.1:{free_port()}/RPC"
    r = invoke("--db", k.db_url, "--rpc", dead, "--json", "address", "add", "1", "10.3.3.3")
    assert r.exit_code == 0, r.stderr  # in the database; no server to tell
    assert r.json()["reload"]["status"] == "unavailable"
    kt("dispatcher", "add", "3", "sip:127.0.0.1:5070")
    sets = {s["SET"]["ID"] for s in k.rpc("dispatcher.list")["RECORDS"]}
    assert 3 in sets
    kt("domain", "add", "reload.test")
    assert "reload.test" in {d["domain"] for d in k.rpc("domain.dump")["domains"]}


def test_a_server_without_the_module_is_a_warning_not_a_failure():
    """dialplan.reload answered "Method Not Found": the server does not cache that table,
    so there is nothing to reload (a warning, exit 0), unlike a reload that failed."""
    rec = Recorder()
    with FakeHttp(replay()) as srv:  # unknown methods get Kamailio's 500 Method Not Found
        outcome = after_edit("dialplan", settings(srv.url), rec)
    assert outcome.status == "unused" and outcome.error is None
    assert "does not run the module of dialplan" in rec.warnings[0]
