"""The fail2ban-ready auth-failure line of kamtool's proxy (README "Seeing traffic"): one
WARNING per refused credentials, with the source address the README's failregex takes;
none for the first challenge or a successful registration."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from tests.proxy.harness import RunningProxy, add_subscriber, make_config, register, sipp
from tests.support.ports import free_port
from tests.trace.support import need

pytestmark = [pytest.mark.sipp]

README = Path(__file__).resolve().parents[2] / "README.md"


def failregex() -> re.Pattern[str]:
    """The README's fail2ban failregex, with fail2ban's <HOST> as a group."""
    line = next(x for x in README.read_text().splitlines() if x.startswith("failregex = "))
    return re.compile(line.removeprefix("failregex = ").replace("<HOST>", r"(?P<host>\S+)"))


def test_wrong_passwords_log_a_line_fail2ban_reads(tmp_path, caplog):
    need("sipp")
    url = "sqlite:///" + str(tmp_path / "kamailio.sqlite")
    add_subscriber(url, "1001", "secret1001")
    proxy = RunningProxy(make_config(url)).start()
    try:
        with caplog.at_level(logging.INFO, logger="kamtool.route"):
            register(proxy.port, "1001", free_port())  # a challenge, then the right answer
            assert "AUTH_FAILED" not in caplog.text
            res = sipp("register.xml", proxy.port, free_port(), service="1001",
                       auth=("1001", "wrong"), variables={"expires": "60"})  # fmt: skip
            assert res.returncode != 0  # 401 again: SIPp's scenario fails
    finally:
        proxy.stop()
    lines = [r for r in caplog.records if "AUTH_FAILED" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    syslog = logging.Formatter("kamtool[%(process)d]: %(name)s: %(message)s")  # --syslog's
    text = syslog.format(lines[0])
    match = failregex().search(text)
    assert match and match.group("host") == "127.0.0.1", text
    assert text.endswith("AUTH_FAILED: method=REGISTER user=1001 from=127.0.0.1"), text
