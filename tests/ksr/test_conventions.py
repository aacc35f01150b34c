"""The KSR API's return conventions and types as Kamailio's KEMI has them, read off a
real proxy running tests/ksr/scripts/probe.py (app_python3 style): booleans from the
method, flag and myself tests, ints from module functions (0 from t_check_trans for a
retransmission it answered), strings from kx getters, None for null pseudo-variables;
x.exit(), route errors, unknown names, syntax errors."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from kamtool.proxy.ksr import KsrNameError, build
from tests.ksr.conftest import SCRIPTS
from tests.proxy.harness import UdpClient
from tests.support.kamtool_proxy import isolated_env


@pytest.fixture
def probe(start_proxy):
    proxy = start_proxy(route=str(SCRIPTS / "probe.py"), domain="served.example",
                        aliases=("alias.example",))  # fmt: skip
    client = UdpClient(proxy.port)
    yield proxy, client
    client.close()


def results(proxy) -> list:
    module = proxy.server.engine.script.script.module
    return proxy.call(lambda: list(module.RESULTS))


def probe_values(proxy, client, user: str, **kw) -> dict[str, object]:
    module = proxy.server.engine.script.script.module
    proxy.call(module.RESULTS.clear)
    resp = client.ask("MESSAGE", f"sip:{user}@127.0.0.1:{proxy.port}", **kw)
    assert (resp.status, resp.reason) == (200, "Probed")
    return dict(results(proxy))


def test_tests_return_booleans_and_functions_ints(probe):
    proxy, client = probe
    v = probe_values(proxy, client, "types", headers=["User-Agent: probe/1"])
    assert v["KSR.is_INVITE()"] is False and v["KSR.is_MESSAGE()"] is True
    assert v["KSR.is_method_in('IM')"] is True and v["KSR.is_method_in('BR')"] is False
    assert v["KSR.isflagset(1)"] is True  # (the second one: after setflag)
    assert v["KSR.setflag(1)"] is True  # (a bool in Kamailio 5.6's KEMI too)
    assert v["KSR.isbflagset(6)"] is True and v["KSR.isdsturiset()"] is False
    assert v["KSR.siputils.has_totag()"] == -1
    assert v["KSR.corex.has_user_agent()"] == 1 and v["KSR.corex.has_ruri_user()"] == 1
    assert v["KSR.siputils.is_request()"] == 1


def test_is_myself_knows_listen_addresses_aliases_domains_and_ports(probe):
    proxy, client = probe
    v = probe_values(proxy, client, "myself")
    assert v["KSR.is_myself('sip:127.0.0.1')"] is True
    assert v["KSR.is_myself('sip:ALIAS.example')"] is True
    assert v["KSR.is_myself('sip:served.example')"] is True
    assert v["KSR.is_myself('sip:127.0.0.1:PORT')"] is True
    assert v["KSR.is_myself('sip:127.0.0.1:1')"] is False  # not a port we listen on
    assert v["KSR.is_myself('sip:127.0.0.2')"] is False
    assert v["KSR.is_myself('127.0.0.1')"] is True  # a bare address, as $si
    assert v["KSR.is_myself_srcip()"] is True and v["KSR.is_myself_ruri()"] is True
    assert v["KSR.is_myself_furi()"] is True and v["KSR.is_myself_turi()"] is True


def test_pseudo_variables_and_kx_getters(probe):
    proxy, client = probe
    v = probe_values(proxy, client, "pv", headers=["X-Probe: yes"])
    assert v["KSR.pv.get('$rm')"] == "MESSAGE" and v["KSR.pv.get('$rU')"] == "pv"
    assert v["KSR.pv.get('$sp')"] == client.port  # an int
    assert v["KSR.pv.get('$si')"] == "127.0.0.1"
    assert v["KSR.pv.get('$du')"] is None and v["KSR.pv.gete('$du')"] == ""
    assert v["KSR.pv.is_null('$du')"] is True
    assert v["KSR.pv.get('$hdr(X-Probe)')"] == "yes"
    assert v["KSR.pv.get('$var(x)')"] == 7  # (after seti)
    # a $var never set is 0, not null (Kamailio): the defaults are not used
    assert v["KSR.pv.getvn('$var(none)', 5)"] == 0
    assert v["KSR.pv.getvs('$var(none)', 'd')"] == 0
    assert v["KSR.htable.sht_get('ipban', 'k127.0.0.1')"] == "v"  # $si expanded in the key
    assert v["KSR.pv.is_null('$sht(ipban=>k$si)')"] is True  # after unset
    assert v["KSR.kx.get_ua()"] == "" and v["KSR.kx.get_duri()"] == ""
    assert v["KSR.kx.get_furi()"] == "sip:1001@127.0.0.1"
    assert v["KSR.kx.get_srcport()"] == client.port
    assert v["KSR.pv.get('$fd')"] == "127.0.0.1" and v["KSR.pv.get('$rp')"] == str(proxy.port)


def test_hdr_takes_whole_lines(probe):
    proxy, client = probe
    module = proxy.server.engine.script.script.module
    proxy.call(module.RESULTS.clear)
    client.ask("MESSAGE", f"sip:hdr@127.0.0.1:{proxy.port}")
    got = results(proxy)
    # removing a header that is not there is 1, as in Kamailio 5.6
    assert [value for _, value in got] == [1, "one", 1, 1, -1, 1]


def test_t_check_trans_answers_a_retransmission_and_returns_0(probe):
    proxy, client = probe
    raw = client.request("MESSAGE", f"sip:retrans@127.0.0.1:{proxy.port}")
    client.send_raw(raw)
    assert client.recv().status == 486
    client.send_raw(raw)  # the same request again: tm sends its 486 again
    assert client.recv().status == 486
    assert results(proxy) == [-1, 0]


def test_x_exit_stops_the_route(probe):
    proxy, client = probe
    resp = client.ask("MESSAGE", f"sip:exit@127.0.0.1:{proxy.port}")
    assert resp.status == 202
    assert results(proxy) == []


def test_an_exception_in_a_route_is_a_500_and_one_traceback_per_place(probe, caplog):
    proxy, client = probe
    caplog.set_level(logging.ERROR, logger="kamtool.route")
    for _ in range(3):
        resp = client.ask("MESSAGE", f"sip:boom@127.0.0.1:{proxy.port}")
        assert (resp.status, resp.reason) == (500, "Server Internal Error")
    errors = [r for r in caplog.records if r.name == "kamtool.route" and r.exc_info]
    assert len(errors) == 1 and "the script failed" in errors[0].getMessage()
    # the proxy goes on
    assert client.ask("OPTIONS", f"sip:types@127.0.0.1:{proxy.port}").status == 200


def test_an_unknown_name_says_which_and_what_is_close():
    ksr = build()
    with pytest.raises(KsrNameError, match=r"KSR\.tm\.t_relayy .*closest: KSR\.tm\.t_relay"):
        ksr.tm.t_relayy()
    with pytest.raises(KsrNameError, match=r"KSR\.registar .*closest: KSR\.registrar"):
        ksr.registar.save("location")
    assert isinstance(ksr.tm.t_relay, type(build))


def test_a_script_with_a_syntax_error_stops_serve_with_file_line_and_exit_8(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import KSR\n\ndef ksr_request_route():\n    return (1\n")
    res = subprocess.run(
        [sys.executable, "-m", "kamtool", "--db", f"sqlite:///{tmp_path}/db.sqlite", "serve",
         "--listen", "udp:127.0.0.1:1", "--rpc-listen", "", "--route", str(bad)],
        capture_output=True, text=True, timeout=60, env=isolated_env(tmp_path),
    )  # fmt: skip
    assert res.returncode == 8, res.stderr
    assert f"{bad}:4" in res.stderr


def test_a_script_without_a_request_route_is_refused(tmp_path):
    from kamtool.errors import ConfigError
    from kamtool.proxy.script import load_script

    empty = tmp_path / "empty.py"
    empty.write_text("import KSR\n")
    with pytest.raises(ConfigError, match="no ksr_request_route"):
        load_script(str(empty))


def test_serve_runs_the_default_script_also_when_told_builtin(start_proxy):
    """No route configured: kamtool's routes/default.py; ``route = "builtin"`` (the old
    name of the route once coded in Python) runs the same script. Both answer a
    keepalive the same way."""
    from kamtool.proxy.routes import DEFAULT_ROUTE

    for route in (None, "builtin"):
        proxy = start_proxy(route=route)
        assert proxy.server.engine.script.script.path == DEFAULT_ROUTE
        client = UdpClient(proxy.port)
        try:
            resp = client.ask("OPTIONS", f"sip:127.0.0.1:{proxy.port}")
            assert (resp.status, resp.reason) == (200, "Keepalive")
        finally:
            client.close()
