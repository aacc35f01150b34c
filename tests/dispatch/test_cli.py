"""``kamtool dispatcher add`` checks every attribute as the dispatcher reads it, and
``dispatcher list`` shows the latency and load columns a server keeps; the rows it
writes load into a real Kamailio 5.6 with the attributes kamtool's engine reads."""

from __future__ import annotations

import pytest

from kamtool.core.dispatch.attrs import parse_attrs
from tests.support.cli import invoke
from tests.support.kamailio import kamailio_available
from tests.support.require import unavailable


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "ds.sqlite")


def kt(db: str, *args: str):
    return invoke("--db", db, *args)


def shown(db: str) -> list[dict]:
    r = kt(db, "--json", "dispatcher", "show")
    assert r.exit_code == 0, r.stderr
    return r.json()


def test_named_attributes_are_joined_and_checked(db):
    r = kt(db, "dispatcher", "add", "1", "sip:127.0.0.1:5070", "0", "5", "weight=50",
           "--duid", "gw1", "--maxload", "3", "--rweight", "20", "--socket",
           "udp:127.0.0.1:5060", "--obproxy", "sip:127.0.0.1:5999", "--latency", "40",
           "--no-reload")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    (row,) = shown(db)
    assert row["attrs"] == (
        "weight=50;rweight=20;duid=gw1;maxload=3;socket=udp:127.0.0.1:5060;"
        "obproxy=sip:127.0.0.1:5999;latency=40"
    )
    # the column holds 128 characters: more is refused, not cut
    long = kt(db, "dispatcher", "add", "1", "sip:127.0.0.1:5071", "--obproxy",
              "sip:" + "p" * 120 + ".example.com", "--no-reload")  # fmt: skip
    assert long.exit_code == 2 and "longer than 128" in long.stderr
    a = parse_attrs(row["attrs"])
    assert (a.weight, a.duid, a.maxload, a.rweight, a.latency) == (50, "gw1", 3, 20, 40)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["weight=500"], "weight must be an integer 1-100"),
        (["weight=50x"], "weight must be an integer 1-100"),
        (["0", "--weight", "0"], None),  # flags argument first, then the option
        (["rweight=abc"], "rweight must be an integer 1-100"),
        (["maxload=-1"], "maxload must be an integer"),
        (["duid="], "duid must be a non-empty token"),
        (["socket=udp:"], "bad socket"),
        (["socket=udp:127.0.0.1:70000"], "port must be 1-65535"),
        (["obproxy=not-a-uri"], "obproxy must be a SIP URI"),
        (["ping_from=http://x"], "ping_from must be a SIP URI"),
        (["duid=a;DUID=b"], "given twice"),
        (["duid=a", "--duid", "b"], "given twice"),
        (['duid="open'], "unterminated"),
    ],
)  # fmt: skip
def test_bad_attributes_are_refused(db, args, message):
    attrs, *options = args
    if attrs == "0":  # "--weight 0" given as an option
        call = ["dispatcher", "add", "1", "sip:127.0.0.1:5070", *options]
        message = "weight must be an integer 1-100"
    else:
        call = ["dispatcher", "add", "1", "sip:127.0.0.1:5070", "0", "0", attrs, *options]
    r = kt(db, "--json", *call, "--no-reload")
    assert r.exit_code == 2, r.stdout
    err = r.json()["error"]
    assert err["code"] == "bad_input" and message in err["message"], err
    assert shown(db) == []


def test_custom_attributes_are_kept(db):
    """Names the module does not know are for the cfg (the xavp attrs): accepted."""
    r = kt(db, "dispatcher", "add", "2", "sip:127.0.0.1:5071", "0", "0",
           "carrier=acme;region=eu;", "--no-reload")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert shown(db)[0]["attrs"] == "carrier=acme;region=eu;"


def test_kamailio_loads_what_add_wrote_and_list_shows_load_and_latency(db, tmp_path):
    if not kamailio_available():
        unavailable("kamailio 5.6 is not installed (scripts/test installs it)")
    from tests.support.kamailio_dispatcher import DispatcherKamailio

    for uri, opts in (
        ("sip:127.0.0.1:5081", ["0", "10", "--duid", "a", "--maxload", "2", "--weight", "60"]),
        ("sip:127.0.0.1:5082", ["--duid", "b", "--rweight", "30", "--latency", "25"]),
        ("sip:127.0.0.1:5083", ["--obproxy", "sip:127.0.0.1:5999", "--ping-from",
                                "sip:probe@127.0.0.1"]),
    ):  # fmt: skip
        assert kt(db, "dispatcher", "add", "1", uri, *opts, "--no-reload").exit_code == 0
    rows = [(r["setid"], r["destination"], r["flags"], r["priority"], r["attrs"])
            for r in shown(db)]  # fmt: skip
    with DispatcherKamailio(tmp_path, rows) as k:
        k.select(1, 10, method="INVITE", call_id="held")  # one call on the least loaded
        listed = invoke("--rpc", k.rpc_http_url, "--json", "dispatcher", "list")
        assert listed.exit_code == 0, listed.stderr
        by_uri = {r["uri"]: r for r in listed.json()}
        for _, uri, _, _, attrs in rows:
            a, r = parse_attrs(attrs), by_uri[uri]
            assert (r["duid"] or "", r["maxload"], r["weight"], r["rweight"]) == (
                a.duid, a.maxload, a.weight, a.rweight), uri  # fmt: skip
            assert (r["obproxy"] or "") == a.obproxy
        assert by_uri["sip:127.0.0.1:5082"]["latency_est"] == 25  # the latency attribute
        assert sum(r["load"] for r in by_uri.values()) == 1
        table = invoke("--rpc", k.rpc_http_url, "dispatcher", "list")
        assert table.exit_code == 0
        header = table.stdout.splitlines()[0]
        for title in ("AVG ms", "EST ms", "MAX ms", "TIMEOUTS", "LOAD"):
            assert title in header, header


def test_select_and_hash_agree_with_kamailio(db, tmp_path):
    """``dispatcher select`` (from the database) picks what Kamailio's ds_select_dst picks
    for the same rows and request; ``dispatcher hash`` is Kamailio's dispatcher.hash."""
    if not kamailio_available():
        unavailable("kamailio 5.6 is not installed (scripts/test installs it)")
    from tests.support.kamailio_dispatcher import DispatcherKamailio

    for port, prio in ((5091, 0), (5092, 5), (5093, 5), (5094, 0)):
        assert kt(db, "dispatcher", "add", "3", f"sip:127.0.0.1:{port}", "0", str(prio),
                  "--no-reload").exit_code == 0  # fmt: skip
    rows = [(r["setid"], r["destination"], r["flags"], r["priority"], r["attrs"])
            for r in shown(db)]  # fmt: skip
    with DispatcherKamailio(tmp_path, rows) as k:
        for n in range(12):
            call_id, uri = f"cli-{n}@x", f"sip:u{n}@h{n}.example.com:50{60 + n}"
            for alg, option, value in ((0, "--call-id", call_id), (1, "--from-uri", uri),
                                       (3, "--ruri", uri)):  # fmt: skip
                theirs = k.select(3, alg, call_id=call_id, from_uri=uri, ruri=uri)
                ours = kt(db, "--json", "dispatcher", "select", "3", str(alg), option, value)
                assert ours.exit_code == 0, ours.stderr
                assert (theirs[1], theirs[2]) == (
                    ours.json()["destination"], ours.json()["failover"]), (alg, value)  # fmt: skip
            for args in ((call_id,), (f"u{n}", f"h{n}.example.com")):
                theirs = k.rpc("dispatcher.hash", 7, *args)
                ours = invoke("--json", "dispatcher", "hash", *args, "--slots", "7")
                assert ours.json() == theirs, args
    missing = kt(db, "dispatcher", "select", "3", "2")
    assert missing.exit_code == 2 and "--to-uri" in missing.stderr
    assert kt(db, "dispatcher", "select", "4", "0", "--call-id", "x").exit_code == 3
    assert kt(db, "dispatcher", "select", "3", "14").exit_code == 2
