"""Fixtures for the monitor tests."""

from __future__ import annotations

import pytest
from textual.widgets import Input


@pytest.fixture(autouse=True)
def _no_cursor_blink(monkeypatch):
    """A blinking cursor makes screenshots differ from run to run."""
    monkeypatch.setattr(Input.__dict__["cursor_blink"], "_default", False)


@pytest.fixture
def anyio_backend():
    """The async tests run on asyncio (anyio's pytest plugin, which comes with httpx)."""
    return "asyncio"
