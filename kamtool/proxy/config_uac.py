"""The ``[proxy]`` settings of ``KSR.uac.uac_auth()``: uac's ``auth_username_avp``,
``auth_password_avp`` and ``auth_realm_avp`` modparams under Kamailio's names with a
``uac_`` prefix. :class:`~kamtool.proxy.config.ProxyConfig` inherits them; described in
``kamtool/cli/config_example.py``."""

from __future__ import annotations

from dataclasses import dataclass

from kamtool.errors import ConfigError

UAC_AUTH_KEYS = ("uac_auth_username_avp", "uac_auth_password_avp", "uac_auth_realm_avp")


@dataclass(frozen=True)
class UacSettings:
    # the variables uac_auth() reads the credentials from ("$avp(auser)"); all three or none
    uac_auth_username_avp: str = ""
    uac_auth_password_avp: str = ""
    uac_auth_realm_avp: str = ""

    def check_uac(self) -> None:
        """ConfigError for a partial or malformed set of auth variables (Kamailio's uac
        refuses to start on "partial definition of auth AVP")."""
        values = [getattr(self, k) for k in UAC_AUTH_KEYS]
        if not any(values):
            return
        if not all(values):
            raise ConfigError(
                "uac_auth_username_avp, uac_auth_password_avp and uac_auth_realm_avp go "
                "together: set all three or none",
                hint='uac_auth_username_avp = "$avp(auser)"',
            )
        for key, value in zip(UAC_AUTH_KEYS, values, strict=True):
            if not value.startswith("$") or len(value) < 2:
                raise ConfigError(f"{key} {value!r}: a pseudo-variable such as $avp(auser)")
