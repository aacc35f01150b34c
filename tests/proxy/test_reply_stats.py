"""The proxy's reply counters mean what Kamailio's mean: sl's class counters hold only the
codes without a counter of their own, sl:sent_err_replies only sl_reply_error answers,
core:rcv_replies_* every reply received by class, code and CSeq method, and tmx/tm's
local transactions only what the proxy originates."""

from __future__ import annotations

from kamtool.proxy.stats import ReceivedReplies, Statistics
from tests.proxy.harness import USERS, UdpClient


def test_received_replies_by_class_code_and_method():
    stats = Statistics()
    replies = ReceivedReplies(stats)
    received = [
        (180, "INVITE"), (183, "INVITE"), (100, "INVITE"), (486, "INVITE"),
        (401, "REGISTER"), (200, "REGISTER"), (200, "OPTIONS"), (799, None),
    ]  # fmt: skip
    for status, method in received:
        replies.count(status, method)
    got = {name: value for _, name, value in stats.items("core") if name.startswith("rcv_rep")}
    assert got["rcv_replies"] == 8  # a 799 too: only in the total
    assert (got["rcv_replies_1xx"], got["rcv_replies_18x"], got["rcv_replies_1xx_invite"]) == (
        3, 2, 3,
    )  # fmt: skip
    assert got["rcv_replies_4xx"] == 2  # the class holds 486 and 401 ...
    assert got["rcv_replies_486"] == got["rcv_replies_401"] == 1  # ... and so do their own
    assert got["rcv_replies_4xx_invite"] == got["rcv_replies_4xx_reg"] == 1
    assert got["rcv_replies_2xx"] == 2 and got["rcv_replies_2xx_reg"] == 1  # OPTIONS: no own
    assert sum(v for k, v in got.items() if k.startswith("rcv_replies_6xx")) == 0


def test_sl_counters_of_a_challenged_registration(proxy):
    """REGISTER, 401, REGISTER with credentials, 200: as Kamailio counts them."""
    ua = UdpClient(proxy.port)
    try:
        assert ua.register("1001", USERS["1001"], [f"<sip:1001@127.0.0.1:{ua.port}>"]).status == 200
    finally:
        ua.close()
    sl = {name: proxy.stat(f"sl:{name}") for name in
          ("401_replies", "4xx_replies", "200_replies", "2xx_replies", "sent_err_replies",
           "sent_replies")}  # fmt: skip
    assert sl == {"401_replies": 1, "4xx_replies": 0, "200_replies": 1, "2xx_replies": 0,
                  "sent_err_replies": 0, "sent_replies": 2}  # fmt: skip
    assert proxy.stat("tmx:UAC_transactions") == 0
