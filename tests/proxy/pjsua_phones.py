"""Two pjsua2 (PJSIP) phones, 1001 and 1002, against a proxy on 127.0.0.1: both register,
1001 calls 1002 (answered, then hung up), 1001 refreshes its registration (PJSIP sends
it unauthenticated first, then answers a new challenge). Prints one JSON line; run as a
subprocess (``python3 pjsua_phones.py PORT PASSWORD1001 PASSWORD1002``), bounded in time.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pjsua2 as pj

PORT = int(sys.argv[1])
PASSWORDS = {"1001": sys.argv[2], "1002": sys.argv[3]}
result: dict[str, object] = {"reg": {}, "refresh": None, "call": []}


class Phone(pj.Account):
    def __init__(self, user: str) -> None:
        super().__init__()
        self.user = user
        self.code = 0
        self.calls: list[Leg] = []

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        self.code = prm.code

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        leg = Leg(self, prm.callId)
        self.calls.append(leg)
        op = pj.CallOpParam()
        op.statusCode = 200
        leg.answer(op)


class Leg(pj.Call):
    def __init__(self, acc: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.states: list[str] = []

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        self.states.append(info.stateText)
        result["call"].append(info.stateText)


def pump(until, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ep.libHandleEvents(20)
        if until():
            return True
    return False


ep = pj.Endpoint()
ep.libCreate()
cfg = pj.EpConfig()
cfg.uaConfig.threadCnt = 0
cfg.uaConfig.mainThreadOnly = True
cfg.logConfig.level = 0
cfg.logConfig.consoleLevel = 0
ep.libInit(cfg)
ep.audDevManager().setNullDev()
tcfg = pj.TransportConfig()
tcfg.port = 0
tcfg.boundAddress = "127.0.0.1"
tcfg.publicAddress = "127.0.0.1"
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
ep.libStart()

phones = {}
for user, password in PASSWORDS.items():
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{user}@127.0.0.1"
    acfg.regConfig.registrarUri = f"sip:127.0.0.1:{PORT}"
    acfg.regConfig.timeoutSec = 300
    acfg.sipConfig.proxies.append(f"sip:127.0.0.1:{PORT};lr")
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password))
    acfg.natConfig.sdpNatRewriteUse = 0
    phone = Phone(user)
    phone.create(acfg)
    phones[user] = phone
try:
    pump(lambda: all(p.code for p in phones.values()), 10)
    result["reg"] = {u: p.code for u, p in phones.items()}
    caller = Leg(phones["1001"])
    caller.makeCall("sip:1002@127.0.0.1", pj.CallOpParam(True))
    pump(lambda: "CONFIRMED" in caller.states, 10)
    if "CONFIRMED" in caller.states:
        caller.hangup(pj.CallOpParam(True))
        pump(lambda: "DISCONNCTD" in caller.states, 5)
    phones["1001"].code = 0
    phones["1001"].setRegistration(True)
    pump(lambda: phones["1001"].code != 0, 10)
    result["refresh"] = phones["1001"].code
finally:
    print(json.dumps(result), flush=True)
    os._exit(0)  # libDestroy can hang on a half-closed transaction: not under test here
