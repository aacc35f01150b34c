"""``kamtool serve --workers N``: N processes sharing the SIP sockets (issue #17).

Linux spreads what arrives over the workers' sockets (SO_REUSEPORT, by the sender's
address), so each worker runs the whole proxy on its own share: its transactions and
dialogs are its own. What reaches the wrong worker is passed on:

* :mod:`.owner`: the owner's index in our Via branches and Record-Routes, read back from
  a reply or an in-dialog request;
* :mod:`.channel`: the datagram link between the workers (unix sockets in the
  supervisor's private directory): forwarded SIP messages, with the sender's address, and
  registration changes;
* :mod:`.relay`: the receive-side switch (forward, or handle here), and TCP/TLS/WebSocket
  connections another worker holds;
* :mod:`.shared_location`: registrations, copied to every worker (without Redis);
* :mod:`.shared_limits`: dialog profile counts (the call limits) and shared htables
  (pike's bans), copied to every worker (without Redis);
* :mod:`.rpc_link`: the JSON-RPC calls worker 0 passes to the others
  (:mod:`kamtool.rpc.server.workers` merges the answers);
* :mod:`.supervisor`: forks, restarts and stops the workers.

Timers that must run once (dispatcher probing, NAT pings, usrloc expiry in the database,
upstream registrations) run in worker 0 only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["WorkerContext"]


@dataclass(frozen=True)
class WorkerContext:
    """Who this worker is: ``index`` of ``count``; ``rundir``: the supervisor's private
    directory (mode 0700) holding every worker's sockets; ``started``: when the service
    started (the supervisor), which a restarted worker does not change (core.uptime)."""

    index: int
    count: int
    rundir: str
    started: float = 0.0

    @property
    def runs_timers(self) -> bool:
        """This worker runs the timers that must run once (worker 0)."""
        return self.index == 0

    def dgram_path(self, index: int) -> str:
        return os.path.join(self.rundir, f"w{index}.sock")

    def rpc_path(self, index: int) -> str:
        return os.path.join(self.rundir, f"w{index}.rpc")

    @property
    def others(self) -> list[int]:
        return [i for i in range(self.count) if i != self.index]
