"""The dialog profile counts of the other nodes (Redis state) or workers (``--workers``):
each peer's own absolute counts, and their sum per profile, kept as each peer reports.

Both sharing backends tell the dialog tracker ``remote_profile_size(key)`` from one of these;
a peer reports absolute numbers, so a repeated or reordered report does no lasting harm."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

ProfileKey = tuple[str, str | None]


class RemoteCounts:
    """Per-peer profile counts and their sums (see module docstring)."""

    def __init__(self) -> None:
        self._by_peer: dict[Hashable, dict[ProfileKey, int]] = {}
        self._sum: dict[ProfileKey, int] = {}

    def size(self, key: ProfileKey) -> int:
        """The peers' dialogs in a profile, all together."""
        return self._sum.get(key, 0)

    def set(self, peer: Hashable, changes: Mapping[ProfileKey, int]) -> None:
        """``peer``'s counts of some profiles are now ``changes`` (0: none)."""
        theirs = self._by_peer.setdefault(peer, {})
        total = self._sum
        for key, n in changes.items():
            old = theirs.pop(key, 0)
            if n > 0:
                theirs[key] = n
            left = total.get(key, 0) + n - old
            if left > 0:
                total[key] = left
            else:
                total.pop(key, None)
        if not theirs:
            self._by_peer.pop(peer, None)

    def forget(self, peer: Hashable) -> None:
        """``peer`` is gone (restarted, or its counts expired): its dialogs with it."""
        self.set(peer, dict.fromkeys(self._by_peer.get(peer, {}), 0))

    def replace(self, peers: Mapping[Hashable, Mapping[ProfileKey, int]]) -> None:
        """Every peer's counts at once (a snapshot)."""
        self._by_peer, self._sum = {}, {}
        for peer, counts in peers.items():
            self.set(peer, counts)
