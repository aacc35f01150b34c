"""Serial forking driven by the script: ``KSR.tm.t_load_contacts()`` and
``KSR.tm.t_next_contacts()`` (tm's contacts_avp functions).

Without them kamtool already forks a ``lookup()``'s bindings by q, group after group,
inside one ``t_relay()``. A script written for Kamailio instead loads the destination set
into the transaction and relays one q-group at a time, taking the next in its failure
route::

    KSR.registrar.lookup("location")
    KSR.tm.t_load_contacts()
    KSR.tm.t_next_contacts()
    KSR.tm.t_on_failure("ksr_next")
    KSR.tm.t_relay()

    def ksr_next(msg):
        if KSR.tm.t_next_contacts() > 0:
            KSR.tm.t_on_failure("ksr_next")
            KSR.tm.t_relay()

The groups not yet tried are kept with the transaction's AVPs, so every failure route of
the transaction sees them.
"""

from __future__ import annotations

import random
from typing import Any

from kamtool.proxy.ksr.context import MsgContext, state

CONTACTS = "\0tm_contacts"  # the q-groups t_load_contacts() kept, best first


def _targets(ctx: MsgContext) -> list[Any]:
    return [t for group in ctx.targets or () for t in group]


def t_load_contacts(mode: int = 0) -> int:
    """Move the destination set into the transaction, ordered for t_next_contacts():
    mode 0 by q (equal q: one parallel group), mode 1 one at a time in a random order
    weighted by q (q <= 0 last). 1, also when there is one destination (nothing to do)."""
    ctx = state.ctx
    targets = _targets(ctx)
    if len(targets) < 2:
        return 1
    if int(mode) == 1:
        groups = [[t] for t in _weighted_order(targets)]
    else:
        groups = []
        for t in sorted(targets, key=lambda t: -t.q):  # (stable: registration order kept)
            if groups and groups[-1][0].q == t.q:
                groups[-1].append(t)
            else:
                groups.append([t])
    ctx.avps[CONTACTS] = groups
    ctx.targets = None
    return 1


def _weighted_order(targets: list[Any]) -> list[Any]:
    """Each pick's chance is its q over the q left; the q <= 0 ones go last, as backups."""
    left = [t for t in targets if t.q > 0]
    backups = [t for t in targets if t.q <= 0]
    order = []
    while left:
        pick = random.choices(left, weights=[t.q for t in left])[0]
        left.remove(pick)
        order.append(pick)
    return order + backups


def t_next_contacts() -> int:
    """The next group of the loaded contacts as the destination set: the R-URI becomes
    its first one and ``t_relay()`` forks to all of them (in a failure route: new
    branches). 1; -2 when none is left."""
    ctx = state.ctx
    groups = (ctx.avps_ or {}).get(CONTACTS)
    if not groups:
        return -2
    group = groups.pop(0)
    ctx.targets = [group]
    ctx.msg.uri = group[0].uri
    ctx.dst_uri = None
    return 1


def tm_serial_functions() -> dict[str, Any]:
    return dict(t_load_contacts=t_load_contacts, ki_t_load_contacts_mode=t_load_contacts,
                t_next_contacts=t_next_contacts)  # fmt: skip
