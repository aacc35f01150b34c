"""``KSR.uac``: the uac module's remote-registration functions for route scripts, over
the proxy's upstream registrations (:mod:`kamtool.proxy.uacreg`).

``uac_reg_lookup(uuid, dst)`` as Kamailio: ``uuid`` a pseudo-variable (``"$rU"``) whose
value is a line's l_uuid, or a SIP URI matched by its user against r_username;
``dst`` (``"$ru"``) gets ``sip:l_username@l_domain``. Both return Kamailio's codes.
"""

from __future__ import annotations

from typing import Any

from kamtool.proxy.ksr import pv
from kamtool.proxy.ksr.context import current

__all__ = ["uac_functions"]


def _registrar() -> Any:
    return getattr(current().parts, "uacreg", None)


def uac_reg_lookup(uuid: str, dst: str) -> int:
    """1 and ``dst`` set when a line matches; -1 otherwise (at once with no lines)."""
    reg = _registrar()
    if reg is None or not reg.lines:
        return -1
    key = pv.get(uuid) if uuid.startswith("$") else uuid
    if not key:
        return -1
    local = reg.lookup(str(key))
    if local is None:
        return -1
    return 1 if pv.sets(dst, local) else -1


def uac_reg_status(uuid: str) -> int:
    """1 registered; -1 unknown, -2 in progress, -3 disabled, -99 not registered."""
    reg = _registrar()
    if reg is None:
        return -1
    key = pv.get(uuid) if uuid.startswith("$") else uuid
    return reg.status(str(key)) if key else -1


def uac_functions() -> dict[str, Any]:
    """``KSR.uac``: the registration functions, From/To replacement and uac_auth."""
    from kamtool.proxy.ksr.uac_auth import uac_auth_functions
    from kamtool.proxy.ksr.uac_replace import uac_replace_functions

    return {"uac_reg_lookup": uac_reg_lookup, "uac_reg_status": uac_reg_status,
            **uac_replace_functions(), **uac_auth_functions()}  # fmt: skip
