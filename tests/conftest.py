"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest

from kamtool.kamctlrc import VARIABLES as KAMCTL_VARIABLES
from tests.support.databases import ENGINES, database
from tests.support.require import in_ci


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skip is a failure, whatever raised it (a marker, a plugin): the suite
    there has every prerequisite (tests/support/require.py)."""
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every prerequisite is installed: {reason}"


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    """Keep tests away from the user's and the system's kamtool/kamctl configuration."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    for var in (
        "KAMTOOL_DB_URL",
        "KAMTOOL_CONFIG",
        "KAMTOOL_RPC_URL",
        "KAMTOOL_JSON",
        "KAMTOOL_SIP_DOMAIN",
        "KAMTOOL_RPC_TOKEN",
        "KAMTOOL_INSTANCE",
        "KAMCTL_TEST",
        "DBPATH",
        *KAMCTL_VARIABLES,  # kamctl reads its variables from the environment too
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("kamtool.config.SYSTEM_CONFIG", tmp_path / "no-system-kamtool.toml")
    monkeypatch.setattr("kamtool.config.SYSTEM_KAMCTLRC", tmp_path / "no-system-kamctlrc")
    monkeypatch.setattr("kamtool.config.LOCAL_KAMCTLRC", tmp_path / "no-local-kamctlrc")
    monkeypatch.setattr("kamtool.config.SYSTEM_KAMCLI_INI", tmp_path / "no-system-kamcli.ini")
    # a command without --rpc must not reach a server this machine happens to run (kamtool
    # serve on its default port, Kamailio's FIFO): a test's `kamtool rm` sent ul.rm to one
    monkeypatch.setattr("kamtool.rpc.discovery.DEFAULT_HTTP_URL", "http://127.0.0.1:1/RPC")
    monkeypatch.setattr("kamtool.rpc.discovery.KAMAILIO_FIFOS", (str(tmp_path / "no.fifo"),))
    monkeypatch.setattr("kamtool.rpc.discovery.KAMAILIO_SOCKETS", (str(tmp_path / "no.sock"),))


@pytest.fixture(params=ENGINES)
def db_url(request, tmp_path):
    """A fresh, empty database URL, once per engine (sqlite, mysql, postgres)."""
    if request.param != "sqlite":
        request.applymarker(getattr(pytest.mark, request.param))
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    """A fresh SQLite database URL (Kamailio's four-slash absolute form)."""
    return "sqlite:///" + str(tmp_path / "kamailio.sqlite")


@pytest.fixture
def kamailio(tmp_path):
    """A real Kamailio 5.6 on loopback with a seeded SQLite DB (tests/support/kamailio.py)."""
    from tests.support.kamailio import Kamailio, require_kamailio

    require_kamailio()
    with Kamailio(tmp_path) as k:
        yield k
