"""kamtool's KSR API: Kamailio's KEMI functions for Python route scripts.

A script does ``import KSR`` and calls ``KSR.tm.t_relay()``, ``KSR.pv.get("$ru")`` ...
with Kamailio's names, arguments and return conventions (positive: true/success,
negative: false/error, 0: stop; the tests of methods and flags, the flag and the core
setter functions return booleans). One
module object serves every route: the message a call is about is the running route's
context (:mod:`kamtool.proxy.ksr.context`).
"""

from __future__ import annotations

import sys
from typing import Any

from kamtool.proxy.ksr.namespace import KsrModule, KsrNameError, build_module, install, is_ours

__all__ = ["KsrNameError", "build", "ensure_installed"]


def build() -> KsrModule:
    """A fresh KSR module object with every function kamtool exports."""
    from kamtool.proxy.ksr import (
        core,
        core_more,
        dialog_more,
        dialplan,
        hdr,
        lcr,
        modules,
        msgops,
        pv,
        sdpops,
        siputils,
        sqlops,
        textops,
        textopsx,
        tm,
        tm_serial,
        tm_settings,
        uac,
        userdata,
        xlog,
    )

    subs: dict[str, dict[str, Any]] = {
        "x": core.x_functions(),
        "pv": pv.functions(),
        "kx": pv.kx_functions(),
        "sl": msgops.sl_functions(),
        "hdr": hdr.hdr_functions(),
        "textops": textops.textops_functions(),
        "textopsx": textopsx.textopsx_functions(),
        "siputils": {**msgops.siputils_functions(), **siputils.more_siputils_functions()},
        "corex": msgops.corex_functions(),
        "maxfwd": msgops.maxfwd_functions(),
        "sanity": msgops.sanity_functions(),
        "tm": {**tm.tm_functions(), **tm_serial.tm_serial_functions(),
               **tm_settings.tm_settings_functions()},
        "tmx": tm.tmx_functions(),
        "rr": tm.rr_functions(),
        "uac": uac.uac_functions(),
        "xlog": xlog.xlog_functions(),
        "kex": core_more.kex_functions(),
        **modules.misc_functions(),
        "dialplan": dialplan.dialplan_functions(),
        "mtree": dialplan.mtree_functions(),
        "lcr": lcr.lcr_functions(),
        "speeddial": userdata.speeddial_functions(),
        "avpops": userdata.avpops_functions(),
        "sdpops": sdpops.sdpops_functions(),
        "sqlops": sqlops.sqlops_functions(),  # over [proxy] sqlcon; registers $dbr
    }
    # the dialog functions over the current dialog (profiles, variables, lifetime, BYE)
    subs["dialog"] = {**subs["dialog"], **dialog_more.dialog_more_functions()}
    from kamtool.proxy.ksr.path import path_functions
    from kamtool.proxy.ksr.rtpengine import rtpengine_functions
    from kamtool.proxy.ksr.websocket import websocket_functions

    subs["rtpengine"] = rtpengine_functions()  # over [proxy] rtpengine (issue #18)
    subs["websocket"] = websocket_functions()  # over the ws:/wss: connections
    subs["path"] = path_functions()  # an edge proxy's Path, with outbound flow tokens
    return build_module({**core.functions(), **core_more.functions()}, subs)


def ensure_installed() -> KsrModule:
    """``sys.modules["KSR"]``: kamtool's module (built once per process)."""
    ksr = sys.modules.get("KSR")
    if is_ours(ksr):
        return ksr
    ksr = build()
    install(ksr)
    return ksr
