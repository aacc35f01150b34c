"""Fixtures of the dispatcher tests: the proxy tests' in-process proxy (for route scripts)."""

from tests.proxy.conftest import proxy_db, start_proxy  # noqa: F401 (fixtures)
