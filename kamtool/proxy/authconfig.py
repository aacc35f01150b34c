"""The ``[proxy]`` settings of replay and password-guessing protection: a base class of
:class:`~kamtool.proxy.config.ProxyConfig` (README, *The route*, item 5)::

    [proxy]
    auth_qop = true                    # challenges offer qop="auth" (auth_challenge flag 1)
    nonce_count = true                 # each nc of a qop answer once (Kamailio: off)
    one_time_nonce = true              # a nonce answered without qop: one request (Kamailio: off)
    auth_checks_register = 0           # bind REGISTER nonces: 1 R-URI, 2 Call-ID, 4 From tag,
    auth_checks_no_dlg = 0             #   8 source IP (Kamailio's bits); ... out of dialog,
    auth_checks_in_dlg = 0             #   ... within a dialog (e.g. 8: same source address)
    auth_fail_limit = 10               # failed authentications that ban a source (ipban);
                                       #   0: count nothing, log only
    auth_fail_window = 600             # seconds a failure counts (htable authfail autoexpire)
    scanner_user_agents = "friendly|scanner|sipcli|sipvicious|VaxSIPUserAgent|pplsip"
                                       # User-Agent regex of requests dropped silently ("": off)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kamtool.errors import ConfigError

__all__ = ["AuthSettings"]


@dataclass(frozen=True)
class AuthSettings:
    """Replay protection (:mod:`kamtool.proxy.auth`; on by default, unlike Kamailio's auth
    module) and brute-force limits (``auth_failed`` of the default route)."""

    auth_qop: bool = True
    nonce_count: bool = True
    one_time_nonce: bool = True
    auth_checks_register: int = 0
    auth_checks_no_dlg: int = 0
    auth_checks_in_dlg: int = 0
    auth_fail_limit: int = 10
    auth_fail_window: int = 600
    scanner_user_agents: str = "friendly|scanner|sipcli|sipvicious|VaxSIPUserAgent|pplsip"

    def check_auth_settings(self) -> None:
        """ConfigError for a bad value (ProxyConfig.__post_init__ calls it)."""
        for name in ("auth_checks_register", "auth_checks_no_dlg", "auth_checks_in_dlg"):
            if not 0 <= getattr(self, name) <= 15:
                raise ConfigError(f"{name} must be 0-15 (1 R-URI, 2 Call-ID, 4 From tag, 8 IP)")
        if self.auth_fail_limit < 0 or self.auth_fail_window <= 0:
            raise ConfigError("auth_fail_limit must be 0 (no ban) or more, auth_fail_window > 0")
        if self.scanner_user_agents:
            try:
                re.compile(self.scanner_user_agents)
            except re.error as exc:
                raise ConfigError(f"scanner_user_agents: bad regex: {exc}") from exc
