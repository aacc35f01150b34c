"""The client over each transport against fake servers: replies, errors, big answers,
dead and silent endpoints (each failure within the timeout, naming the URL)."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time

import pytest

from kamtool.errors import BadInput, OperationTimeout, RpcError, RpcUnavailable
from kamtool.rpc import client as client_mod
from kamtool.rpc.client import RpcClient
from kamtool.rpc.transports import EndpointUnreachable
from tests.rpc.fakes import FakeDgram, FakeFifo, FakeHttp, replay, result_handler
from tests.support.ports import free_port
from tests.support.threads import errors_in_threads

TIMEOUT = 1.0
# "Never hangs" is checked with room for a loaded CI machine: the bound only has to
# separate "gave up at the deadline" from "waited for ever".
SLACK = 3.0


def _big_result(n: int) -> dict:
    return {"AoRs": [{"AoR": f"user{i}", "pad": "x" * 40} for i in range(n)]}


# --------------------------------------------------------------------------- HTTP


def test_http_result_error_and_token():
    with FakeHttp(replay()) as srv, RpcClient(srv.url, timeout=TIMEOUT, token="s3cret") as c:
        assert c.call("core.version") == "kamailio 5.6.3 (x86_64/linux) "
        with pytest.raises(RpcError) as err:
            c.call("no.such_method")
    assert err.value.rpc_code == 500
    assert err.value.details["rpc_message"] == "Method Not Found"
    assert srv.url in err.value.details["url"]
    headers, req = srv.requests[0]
    assert headers["Authorization"] == "Bearer s3cret"
    assert req == {"jsonrpc": "2.0", "method": "core.version", "id": req["id"]}


def test_http_basic_auth_password_is_sent_never_shown():
    """``http://user:pw@host/RPC`` (xhttp behind an authenticating proxy): httpx sends the
    credentials as Basic auth; messages, error details and ``url`` show ``user:***``."""
    import base64

    with FakeHttp(replay()) as srv:
        url = srv.url.replace("http://", "http://ops:s3cr3t@")
        with RpcClient(url, timeout=TIMEOUT) as c:
            assert c.call("core.version").startswith("kamailio")
            with pytest.raises(RpcError) as err:
                c.call("no.such_method")
            assert "s3cr3t" not in c.url and "ops:***@" in c.url
    headers, _ = srv.requests[0]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ops:s3cr3t").decode()
    assert "s3cr3t" not in str(err.value.details) + err.value.message
    dead = f"http://ops:s3cr3t@127.0.0.1:{free_port()}/RPC"
    for client in (RpcClient(dead, timeout=TIMEOUT), RpcClient(timeout=TIMEOUT)):
        client._candidates = [dead]  # the second: a discovered endpoint, not --rpc
        with pytest.raises(RpcUnavailable) as down:
            client.call("core.version")
        shown = down.value.message + str(down.value.details) + (down.value.hint or "")
        assert "s3cr3t" not in shown and "ops:***@127.0.0.1" in shown


def test_http_error_status_with_json_body_is_an_rpc_error():
    """xhttp answers ``404 Dialog not found`` with the JSON body: parse it anyway."""
    handler = replay({"dlg.end_dlg": "dlg.end_dlg.not_found"})
    with FakeHttp(handler) as srv, pytest.raises(RpcError) as err:
        RpcClient(srv.url, timeout=TIMEOUT).call("dlg.end_dlg", 1, 2)
    assert err.value.rpc_code == 404


def test_http_connection_refused_is_unavailable_and_fast():
    url = f"http://127.0.0.1:{free_port()}/RPC"
    t0 = time.monotonic()
    with pytest.raises(RpcUnavailable) as err:
        RpcClient(url, timeout=TIMEOUT).call("core.version")
    assert time.monotonic() - t0 < TIMEOUT + SLACK
    assert url in err.value.message and "refused" in err.value.message


def test_http_silent_server_times_out_within_the_timeout():
    with FakeHttp(replay(), mode="hang") as srv:
        t0 = time.monotonic()
        with pytest.raises(OperationTimeout) as err:
            RpcClient(srv.url, timeout=0.5).call("core.version")
        assert time.monotonic() - t0 < 0.5 + SLACK
    assert srv.url in err.value.message


def test_http_cut_reply_says_so():
    with FakeHttp(replay(), mode="truncate") as srv, pytest.raises(RpcUnavailable) as err:
        RpcClient(srv.url, timeout=TIMEOUT).call("core.version")
    assert "before the whole answer" in err.value.message
    assert "fifo" in err.value.hint


def test_http_wrong_path_html_is_not_json_rpc():
    def html(req):
        return 200, b"<html><body>Wrong URL /foo</body></html>"

    with FakeHttp(html) as srv, pytest.raises(RpcUnavailable) as err:
        RpcClient(srv.url, timeout=TIMEOUT).call("core.version")
    assert "did not answer with JSON-RPC" in err.value.message


# --------------------------------------------------------------------------- FIFO


def test_fifo_call_reply_fifo_private_and_removed(tmp_path):
    with FakeFifo(replay(), tmp_path) as srv, RpcClient(srv.url, timeout=TIMEOUT) as c:
        assert c.call("core.uptime")["uptime"] == 185
        with pytest.raises(RpcError):
            c.call("no.such_method")
    name = srv.requests[0]["reply_name"]
    assert "." not in name and "/" not in name  # jsonrpcs refuses both
    assert srv.reply_modes[0] == 0o600
    assert not any(p.startswith("kamtool_") for p in os.listdir("/tmp") if name in p)


def test_fifo_big_answer_arrives_whole(tmp_path):
    big = _big_result(100_000)  # ~6 MB
    with FakeFifo(result_handler(big), tmp_path) as srv:
        got = RpcClient(srv.url, timeout=10).call("ul.dump")
    assert len(got["AoRs"]) == 100_000


def test_fifo_backslashes_survive_kamailios_brace_counting(tmp_path):
    """Kamailio's FIFO reader takes ``\\"`` for an escaped quote: we send ``\\u005c``."""
    with FakeFifo(lambda r: result_handler(r["params"])(r), tmp_path) as srv:
        got = RpcClient(srv.url, timeout=TIMEOUT).call("core.echo", "a\\", '\\"}')
    assert got == ["a\\", '\\"}']


def test_fifo_reply_dir_option(tmp_path):
    reply_dir = tmp_path / "replies"
    reply_dir.mkdir()
    with FakeFifo(replay(), tmp_path, reply_dir=str(reply_dir)) as srv:
        assert RpcClient(srv.url, timeout=TIMEOUT).call("core.version").startswith("kamailio")
    assert list(reply_dir.iterdir()) == []


def test_fifo_nobody_reads_is_unavailable_at_once(tmp_path):
    path = tmp_path / "dead.fifo"
    os.mkfifo(path)
    t0 = time.monotonic()
    with pytest.raises(EndpointUnreachable) as err:
        RpcClient(f"fifo:{path}", timeout=TIMEOUT).call("core.version")
    assert time.monotonic() - t0 < TIMEOUT + SLACK
    assert str(path) in err.value.message and "nobody reads" in err.value.message


def test_fifo_open_but_never_answered_times_out(tmp_path):
    with FakeFifo(lambda req: None, tmp_path) as srv:
        t0 = time.monotonic()
        with pytest.raises(OperationTimeout) as err:
            RpcClient(srv.url, timeout=0.5).call("core.version")
        assert time.monotonic() - t0 < 0.5 + SLACK
    assert str(srv.path) in err.value.message


def test_fifo_missing_or_not_a_fifo(tmp_path):
    with pytest.raises(RpcUnavailable, match="no FIFO"):
        RpcClient(f"fifo:{tmp_path}/nope", timeout=TIMEOUT).call("core.version")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RpcUnavailable, match="not a FIFO"):
        RpcClient(f"fifo:{tmp_path}/file", timeout=TIMEOUT).call("core.version")


# --------------------------------------------------------------------------- datagram


def test_dgram_call_and_private_reply_socket():
    with FakeDgram(replay()) as srv:
        c = RpcClient(srv.url, timeout=TIMEOUT)
        assert c.call("ul.dump", "brief")["Domains"][0]["Domain"]["Stats"]["Records"] == 3
        with pytest.raises(RpcError):
            c.call("no.such_method")
        reply_dir = c._transport._dir
        assert stat.S_IMODE(os.stat(reply_dir).st_mode) == 0o700
        c.close()
        assert not os.path.exists(reply_dir)
        assert c.call("core.version").startswith("kamailio")  # reopens after close
        c.close()


def test_dgram_reply_directory_goes_with_an_unclosed_client():
    """A client nobody closes (a script's, a CLI run's) still removes its reply directory
    when it is collected, or at the latest when the process exits: they piled up in /tmp."""
    import gc

    with FakeDgram(replay()) as srv:
        c = RpcClient(srv.url, timeout=TIMEOUT)
        assert c.call("core.version").startswith("kamailio")
        reply_dir = c._transport._dir
        assert os.path.isdir(reply_dir)
        del c
        gc.collect()
        assert not os.path.exists(reply_dir)


def test_dgram_large_single_datagram_arrives_whole():
    big = _big_result(20_000)  # ~1.2 MB in one datagram
    with FakeDgram(result_handler(big)) as srv:
        assert len(RpcClient(srv.url, timeout=5).call("ul.dump")["AoRs"]) == 20_000


def test_dgram_reply_split_over_datagrams_is_reassembled():
    big = _big_result(5_000)
    with FakeDgram(result_handler(big), split=60_000) as srv:
        assert RpcClient(srv.url, timeout=5).call("ul.dump") == big


def test_dgram_late_reply_to_another_call_is_ignored():
    with FakeDgram(replay(), stale=True) as srv:
        assert RpcClient(srv.url, timeout=TIMEOUT).call("core.version").startswith("kamailio")


def test_dgram_socket_nobody_answers_times_out(tmp_path):
    path = str(tmp_path / "mute.sock")
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    mute.bind(path)
    try:
        t0 = time.monotonic()
        with pytest.raises(OperationTimeout) as err:
            RpcClient(f"unix:{path}", timeout=0.5).call("core.version")
        assert time.monotonic() - t0 < 0.5 + SLACK
        assert path in err.value.message and "128 KiB" in err.value.hint
    finally:
        mute.close()


def test_dgram_dead_socket_file_is_unavailable(tmp_path):
    path = str(tmp_path / "dead.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.close()  # the file stays, nobody listens: ECONNREFUSED
    with pytest.raises(EndpointUnreachable):
        RpcClient(f"unix:{path}", timeout=TIMEOUT).call("core.version")
    with pytest.raises(EndpointUnreachable, match="no socket"):
        RpcClient(f"unix:{tmp_path}/none.sock", timeout=TIMEOUT).call("core.version")


def test_udp_reply_from_another_port():
    """jsonrpcs answers UDP from its send socket, not from the port we sent to."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def serve():
        data, addr = rx.recvfrom(65536)
        req = json.loads(data)
        tx.sendto(json.dumps({"jsonrpc": "2.0", "result": "pong", "id": req["id"]}).encode(), addr)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        c = RpcClient(f"udp:127.0.0.1:{rx.getsockname()[1]}", timeout=TIMEOUT)
        assert c.call("core.echo") == "pong"
        c.close()
    finally:
        t.join(2)
        rx.close()
        tx.close()


# --------------------------------------------------------------------------- URLs and defaults


@pytest.mark.parametrize("url", ["tcp:127.0.0.1:5", "ftp://x", "udp:nohost", "fifo:", "bogus"])
def test_bad_urls_are_bad_input(url):
    with pytest.raises(BadInput):
        RpcClient(url)


def test_bare_paths_pick_the_transport(tmp_path):
    with FakeFifo(replay(), tmp_path) as srv:
        assert RpcClient(str(srv.path), timeout=TIMEOUT).url == f"fifo:{srv.path}"
    with FakeDgram(replay()) as srv:
        assert RpcClient(srv.path, timeout=TIMEOUT).url == f"unix:{srv.path}"


def test_default_tries_http_then_fifo(tmp_path, monkeypatch):
    dead_http = f"http://127.0.0.1:{free_port()}/RPC"
    with FakeFifo(replay(), tmp_path) as srv:
        monkeypatch.setattr(client_mod, "default_candidates", lambda db=None: [dead_http, srv.url])
        c = RpcClient(timeout=TIMEOUT)
        assert c.call("core.version").startswith("kamailio")
        assert c.url == srv.url
    monkeypatch.setattr(
        client_mod, "default_candidates", lambda db=None: [dead_http, f"fifo:{tmp_path}/none"]
    )
    with pytest.raises(RpcUnavailable) as err:
        RpcClient(timeout=TIMEOUT).call("core.version")
    assert dead_http in err.value.message and f"{tmp_path}/none" in err.value.message
    assert err.value.details["tried"] == [dead_http, f"fifo:{tmp_path}/none"]


def test_one_client_shared_by_threads():
    with FakeDgram(replay()) as srv, RpcClient(srv.url, timeout=5) as c:

        def work():
            for _ in range(20):
                assert c.call("core.uptime")["uptime"] == 185

        assert errors_in_threads(work, timeout=10) == []


def test_requests_too_large_for_kamailio_are_refused_before_sending(tmp_path):
    """Kamailio reads 8 KiB from its FIFO (the rest would wedge it) and 64 KiB datagrams."""
    with FakeFifo(replay(), tmp_path) as srv:
        with pytest.raises(BadInput, match="FIFO"):
            RpcClient(srv.url, timeout=TIMEOUT).call("htable.sets", "t", "k", "x" * 9000)
        assert srv.requests == []
    with FakeDgram(replay()) as srv, pytest.raises(BadInput, match="datagram"):
        RpcClient(srv.url, timeout=TIMEOUT).call("htable.sets", "t", "k", "x" * 70000)


def test_server_of_another_user_may_write_our_reply_endpoints(tmp_path, monkeypatch):
    """A Kamailio running as another user gets write (never read) access to our reply
    FIFO (group, else others) and can reach our datagram socket."""
    from kamtool.rpc import transport_base

    monkeypatch.setattr(transport_base, "peer_is_us", lambda path: False)
    with FakeFifo(replay(), tmp_path) as srv:
        RpcClient(srv.url, timeout=TIMEOUT).call("core.version")
    assert srv.reply_modes == [0o620]
    with FakeDgram(replay()) as srv:
        c = RpcClient(srv.url, timeout=TIMEOUT)
        c.call("core.version")
        reply_dir = c._transport._dir
        assert stat.S_IMODE(os.stat(reply_dir).st_mode) == 0o711
        assert stat.S_IMODE(os.stat(os.path.join(reply_dir, "reply.sock")).st_mode) == 0o622
        c.close()


def test_http_refusal_without_json_mentions_the_token():
    def refuse(req):
        return 401, b"Unauthorized"

    with FakeHttp(refuse) as srv, pytest.raises(RpcUnavailable) as err:
        RpcClient(srv.url, timeout=TIMEOUT).call("core.version")
    assert "401" in err.value.message and "token" in err.value.hint


def test_http_url_without_path_means_rpc():
    with FakeHttp(replay()) as srv:
        bare = srv.url.removesuffix("/RPC")
        c = RpcClient(bare + "/", timeout=TIMEOUT)
        assert c.url == srv.url
        assert c.call("core.version").startswith("kamailio")


def test_dgram_after_a_timeout_the_late_answer_is_not_taken():
    calls = []

    def slow_first(req):
        calls.append(req["method"])
        if len(calls) == 1:
            time.sleep(0.6)  # answers after the client gave up
        return replay()(req)

    with FakeDgram(slow_first) as srv, RpcClient(srv.url, timeout=0.3) as c:
        with pytest.raises(OperationTimeout):
            c.call("core.uptime")
        time.sleep(0.5)
        c.timeout = 2.0
        assert c.call("core.version").startswith("kamailio")


def test_default_skips_a_web_server_that_is_not_json_rpc(tmp_path, monkeypatch):
    def page(req):
        return 404, b"<html>Not Found</html>"

    with FakeHttp(page) as web, FakeFifo(replay(), tmp_path) as srv:
        monkeypatch.setattr(client_mod, "default_candidates", lambda db=None: [web.url, srv.url])
        c = RpcClient(timeout=TIMEOUT)
        assert c.call("core.version").startswith("kamailio")
        assert c.url == srv.url
