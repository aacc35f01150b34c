"""``app_python.reload`` (and ``app_python3.reload``): the script is loaded again while
the proxy runs; a call in progress finishes through the new script; a broken script is
refused and the running one stays."""

from __future__ import annotations

import pytest

from tests.ksr.test_user_scripts import policy
from tests.proxy.conftest import need
from tests.proxy.harness import (
    UdpClient,
    caller_args,
    explain,
    register,
    sipp_background,
    sipp_peer,
)
from tests.support.jsonrpc import http_rpc
from tests.support.ports import free_port

pytestmark = pytest.mark.sipp


def test_reload_changes_the_policy_without_dropping_a_call(start_proxy, tmp_path):
    need("sipp")
    rpc_port = free_port()
    route = policy(tmp_path, FORBIDDEN_USER="1003")
    proxy = start_proxy(route=route, rpc_listen=f"127.0.0.1:{rpc_port}",
                        rpc_runtime_dir=str(tmp_path / "rt"))  # fmt: skip
    url = f"http://127.0.0.1:{rpc_port}/RPC"
    client = UdpClient(proxy.port)
    uri = f"sip:1002@127.0.0.1:{proxy.port}"
    try:
        assert client.ask("MESSAGE", uri, from_user="1003").status == 403
        uas_port = free_port()
        register(proxy.port, "1002", uas_port)
        with sipp_peer("uas_answer.xml", proxy.port, uas_port):
            uac = sipp_background("uac_call.xml", proxy.port, free_port(), hold_ms=1500,
                                  **caller_args())  # fmt: skip
            try:
                policy(tmp_path, FORBIDDEN_USER="1002")  # the same file, another policy
                assert http_rpc(url, "app_python.reload") == {"old": 0, "new": 1}
                out, err = uac.communicate(timeout=30)
                assert uac.returncode == 0, explain(uac)  # its BYE went through the new script
            finally:
                uac.kill()
        assert client.ask("MESSAGE", uri, from_user="1002").status == 403
        assert client.ask("MESSAGE", uri, from_user="1003").status == 407
        # a broken script is refused; the one running stays
        (tmp_path / "policy.py").write_text("import KSR\ndef ksr_request_route(:\n")
        with pytest.raises(Exception, match=r"policy\.py:2"):
            http_rpc(url, "app_python3.reload")
        assert client.ask("MESSAGE", uri, from_user="1002").status == 403
    finally:
        client.close()
