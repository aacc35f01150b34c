"""Fixtures for proxy tests: a seeded SQLite database and a running in-process proxy."""

from __future__ import annotations

import shutil

import pytest

from tests.proxy.harness import USERS, RunningProxy, add_subscriber, make_config
from tests.support.require import unavailable


@pytest.fixture
def proxy_db(tmp_path):
    """An SQLite database with Kamailio's tables and subscribers 1001-1003 @127.0.0.1."""
    url = "sqlite:///" + str(tmp_path / "kamailio.sqlite")
    for user, pw in USERS.items():
        add_subscriber(url, user, pw)
    return url


@pytest.fixture
def start_proxy(proxy_db):
    """Factory: start_proxy(**ProxyConfig changes) -> RunningProxy (stopped afterwards)."""
    started: list[RunningProxy] = []

    def start(loop="asyncio", **changes):
        p = RunningProxy(make_config(proxy_db, **changes), loop=loop).start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def proxy(start_proxy):
    return start_proxy()


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        unavailable(f"{tool} is not installed (apt-get install {tool})")
