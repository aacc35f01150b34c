"""Servers for the overview's snapshots, built from the captured Kamailio 5.6 answers.

``busy``: the captures' rows multiplied into a small office at work (30 contacts, 8 calls,
pike's top sources, 4 bans); ``idle``: a server nobody uses (no contacts, calls, bans or
traffic). ``change`` is what happens before a second poll: errors, a ban, a dispatcher
reload, a destination going down, so that the events panel has something to say.
"""

from __future__ import annotations

import copy

from kamtool.tui.capture import FakeSource
from tests.support.reference import capture


def _result(name: str):
    return copy.deepcopy(capture(name)["response"]["result"])


def busy(source: FakeSource) -> None:
    """30 contacts of 24 AoRs, 8 calls (2 ringing), 6 tracked sources (pike's order is not
    by hits), 4 bans."""
    answers = source.client.results
    dump = _result("ul.dump")
    domain = dump["Domains"][0]["Domain"]
    template = domain["AoRs"][0]["Info"]
    aors = []
    for i in range(24):
        info = copy.deepcopy(template)
        user = str(2001 + i)
        info["AoR"] = user
        contacts = []
        for k in range(2 if i % 4 == 0 else 1):
            contact = copy.deepcopy(template["Contacts"][0]["Contact"])
            transport = ";transport=tcp" if (i + k) % 3 == 0 else ""
            contact.update({
                "Address": f"sip:{user}@192.168.{10 + k}.{20 + i}:{5060 + k}{transport}",
                "Expires": 3600 - 97 * i - 13 * k,
                "Ruid": f"uloc-busy-{i}-{k}",
                "Last-Modified": 1795693043 + 7 * i + k,
                "Received": f"sip:198.51.100.{20 + i}:{40000 + i}" if i % 5 == 0 else "[not set]",
                "User-Agent": ("Yealink SIP-T46U 108.86", "Grandstream GXP2170",
                               "Linphone/5.2", "Zoiper rv2.10")[i % 4],
            })  # fmt: skip
            contacts.append({"Contact": contact})
        info["Contacts"] = contacts
        aors.append({"Info": info})
    domain["AoRs"] = aors
    answers["ul.dump"] = dump

    template = _result("dlg.list")[1]
    dialogs = []
    for i in range(8):
        d = copy.deepcopy(template)
        d.update({
            "h_entry": 100 + i, "h_id": 500 + i, "call-id": f"busy-{i}@192.168.10.20",
            "from_uri": f"sip:{2001 + i}@127.0.0.1", "to_uri": f"sip:{2013 + i}@127.0.0.1",
            "state": 2 if i in (1, 5) else 4, "start_ts": 1795693000 + 23 * i,
            "duration": 0 if i in (1, 5) else 214 - 23 * i,
        })  # fmt: skip
        dialogs.append(d)
    answers["dlg.list"] = dialogs

    top = _result("pike.top.ALL")
    row = top["list"][0]
    top["list"] = [
        dict(row, ip_addr=ip, leaf_hits_prev=prev, leaf_hits_curr=curr, status=status)
        for ip, prev, curr, status in (
            ("192.168.10.22", 4, 5, ""), ("198.51.100.20", 31, 44, ""),
            ("198.51.100.25", 12, 19, ""), ("203.0.113.7", 180, 211, "HOT"),
            ("192.168.11.24", 2, 3, ""), ("192.168.10.21", 6, 9, ""),
        )
    ]  # fmt: skip
    answers["pike.top"] = top
    answers["htable.dump"] = ban_dump(["203.0.113.7", "203.0.113.9", "10.0.0.98", "10.0.0.99"])


def ban_dump(addresses: list[str]) -> list[dict]:
    """``htable.dump ipban`` listing ``addresses``."""
    return [
        {"entry": 200 + i, "size": 1, "slot": [{"name": a, "value": 1, "type": "int"}]}
        for i, a in enumerate(addresses)
    ]


def idle(source: FakeSource) -> None:
    """Nobody registered, no calls, no bans, no tracked sources, counters that stand still."""
    answers = source.client.results
    dump = _result("ul.dump")
    dump["Domains"][0]["Domain"]["AoRs"] = []
    answers["ul.dump"] = dump
    answers["dlg.list"] = []
    answers["htable.dump"] = []
    answers["pike.top"] = {"max_hits": 200, "list": [], "number_of_rows": 0}
    answers["stats.get_statistics"] = source.client.call("stats.get_statistics", "all")
    source.client.calls.clear()


def change(source: FakeSource) -> None:
    """Between two polls: a new ban, a dispatcher reload with one more destination, and
    (from the growing counters of :func:`tests.tui.fake.growing_stats`) errors."""
    answers = source.client.results
    bans = answers.get("htable.dump") or ban_dump(["10.0.0.98", "10.0.0.99"])
    answers["htable.dump"] = bans + ban_dump(["192.0.2.66"])
    dispatcher = _result("dispatcher.list")
    targets = dispatcher["RECORDS"][1]["SET"]["TARGETS"]
    targets.append({"DEST": {"URI": "sip:127.0.0.1:5066", "FLAGS": "AP", "PRIORITY": 1}})
    answers["dispatcher.list"] = dispatcher
