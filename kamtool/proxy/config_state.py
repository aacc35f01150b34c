"""The ``[proxy]`` settings of the shared state (issue #17: several kamtool processes or
hosts sharing registrations, bans and dialog profile sizes through Redis, see
:mod:`kamtool.proxy.shared_state`). :class:`~kamtool.proxy.config.ProxyConfig` inherits
them; kept here so the main settings file stays small::

    [proxy]
    state = "redis://127.0.0.1:6379/0"   # "" (default): nothing shared
    state_prefix = "kamtool"             # Redis key prefix: one per cluster of nodes
    state_retry = 2.0                    # seconds between reconnection attempts
    state_tables = "ipban"               # htables shared (comma separated)
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from kamtool.errors import ConfigError

STATE_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class StateSettings:
    state: str = ""
    state_prefix: str = "kamtool"
    state_retry: float = 2.0
    state_tables: str = "ipban"

    @property
    def shared_tables(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.state_tables.split(",") if t.strip())

    def check_state(self) -> None:
        """ConfigError for shared-state settings that cannot work."""
        if self.state and not self.state.startswith(STATE_SCHEMES):
            raise ConfigError(
                "state must be a Redis URL (redis://, rediss:// or unix://)",
                hint='state = "redis://127.0.0.1:6379/0"',
            )
        if self.state:
            try:
                from redis.connection import parse_url
            except ImportError:
                raise ConfigError(
                    "state needs the redis package", hint="pip install redis hiredis"
                ) from None
            try:
                parse_url(self.state)
            except ValueError as exc:
                raise ConfigError(f"state: {exc}") from None
            db = urlsplit(self.state).path.strip("/")
            if not self.state.startswith("unix://") and db and not db.isdigit():
                # (redis-py would take database 0 without a word)
                raise ConfigError(f"state: the database must be a number, not {db!r}")
        if not self.state_prefix or any(c.isspace() for c in self.state_prefix):
            raise ConfigError("state_prefix must be a non-empty word")
        if self.state_retry <= 0:
            raise ConfigError("state_retry must be positive")
