"""Run-time changes to dispatcher destinations: states (``ds_mark_dst``, probes,
``dispatcher.set_state``) with Kamailio's thresholds, call load (``ds_load_update``,
``ds_load_unset``, moved by ``ds_next_dst``), latency samples. A part of
:class:`~kamtool.core.dispatch.engine.DsEngine`."""

from __future__ import annotations

from kamtool.core.dispatch.model import (
    DS_DISABLED,
    DS_INACTIVE,
    DS_PROBING,
    DS_STATES_ALL,
    DS_TRYING,
    DsDest,
    DsParams,
    DsSet,
    Load,
    skipped,
)

__all__ = ["LoadsAndStates"]


class LoadsAndStates:
    """The engine's state-changing half (needs ``sets``, ``params``, ``loads``,
    ``find`` and ``_init_rweights`` from the engine)."""

    sets: dict[int, DsSet]
    params: DsParams
    loads: dict[str, Load]

    def find(self, set_id: int, uri: str) -> DsDest | None:  # pragma: no cover - engine's
        raise NotImplementedError

    def _init_rweights(self, dset: DsSet) -> None:  # pragma: no cover - engine's
        raise NotImplementedError

    def _load_replace(self, call_id: str, new: DsDest) -> bool:
        load = self.loads.get(call_id)
        if load is None:
            return True  # Kamailio logs "cannot find load" and keeps the destination
        dset = self.sets.get(load.set_id)
        if dset is None or not any(d is new for d in dset.dests):
            return False
        old = next((d for d in dset.dests if d.attrs.duid.lower() == load.duid.lower()), None)
        if old is not None and old.dload > 0:
            old.dload -= 1
        self.loads[call_id] = Load(load.set_id, new.attrs.duid)
        new.dload += 1
        return True

    def load_update(self, call_id: str, method: str = "", status: int = 0,
                    cseq_method: str = "") -> None:  # fmt: skip
        """``ds_load_update``: a BYE or CANCEL request frees the call's slot; a 2xx to the
        INVITE confirms it."""
        if method.upper() in ("BYE", "CANCEL"):
            self.load_unset(call_id)
        elif (not method and cseq_method.upper() == "INVITE" and 200 <= status < 300
              and call_id in self.loads):  # fmt: skip
            self.loads[call_id].confirmed = True

    def load_unset(self, call_id: str) -> bool:
        """``ds_load_unset``: free the call's slot now (False when it held none)."""
        load = self.loads.pop(call_id, None)
        if load is None:
            return False
        dset = self.sets.get(load.set_id)
        for d in dset.dests if dset else []:
            if d.attrs.duid.lower() == load.duid.lower():
                d.dload = max(0, d.dload - 1)
                break
        return True

    def adopt_loads(self, old: LoadsAndStates) -> None:
        """After a reload: keep the calls in progress counted (by duid, as Kamailio's
        load table outlives reloads)."""
        for call_id, load in old.loads.items():
            dset = self.sets.get(load.set_id)
            for d in dset.dests if dset else []:
                if d.attrs.duid.lower() == load.duid.lower():
                    d.dload += 1
                    self.loads[call_id] = Load(load.set_id, d.attrs.duid, load.confirmed)
                    break

    # ------------------------------------------------------------------ states

    def set_state(self, set_id: int, uri: str, bits: int) -> bool:
        """``dispatcher.set_state`` / ``ds_reinit_state``: replace the state bits of one
        destination (``uri == "all"``: every one of the set). False when none matched."""
        dset = self.sets.get(set_id)
        if dset is None:
            return False
        targets = (
            dset.dests
            if uri == "all"
            else [d for d in dset.dests if d.uri.lower() == uri.lower()][:1]
        )
        for d in targets:
            old = d.flags
            d.flags = (d.flags & ~DS_STATES_ALL) | bits
            self._up_down(dset, d, old)
        return bool(targets)

    def set_duid_state(self, set_id: int, duid: str, bits: int) -> bool:
        """``dispatcher.set_duid_state``: as :meth:`set_state` for the destination with
        that ``duid`` (case-insensitive; the first one)."""
        dset = self.sets.get(set_id)
        wanted = duid.lower()
        dest = (
            next((d for d in dset.dests if d.attrs.duid.lower() == wanted), None) if dset else None
        )
        if dset is None or dest is None:
            return False
        old = dest.flags
        dest.flags = (dest.flags & ~DS_STATES_ALL) | bits
        self._up_down(dset, dest, old)
        return True

    def update_state(self, set_id: int, uri: str, state: int) -> bool:
        """``ds_update_state`` (``ds_mark_dst``, probe results) with the thresholds."""
        dset = self.sets.get(set_id)
        d = self.find(set_id, uri)
        if dset is None or d is None:
            return False
        old, asked = d.flags, state
        if state & DS_TRYING and old & DS_INACTIVE:
            state = (state & ~DS_TRYING) | DS_INACTIVE  # inactive must go active first
        d.flags = (old & ~DS_STATES_ALL) | (DS_DISABLED if state & DS_DISABLED else state)
        if state & DS_TRYING:
            d.message_count += 1
            if d.message_count >= self.params.probing_threshold:
                d.flags = (d.flags & ~DS_TRYING) | DS_INACTIVE
                d.message_count = 0
        elif not asked & DS_TRYING and old & DS_INACTIVE:
            d.message_count += 1
            if d.message_count < self.params.inactive_threshold:
                d.flags |= DS_INACTIVE | (old & DS_PROBING)
            else:
                d.message_count = 0
        else:
            d.message_count = 0
        self._up_down(dset, d, old)
        return True

    def _up_down(self, dset: DsSet, d: DsDest, old: int) -> None:
        if d.attrs.rweight > 0 and skipped(old) != skipped(d.flags):
            self._init_rweights(dset)

    def probe_latency(self, set_id: int, uri: str, status: int, ms: int) -> None:
        """``ds_update_latency`` for a probe answered ``status`` after ``ms`` (only
        destinations in probing state count, as in Kamailio)."""
        d = self.find(set_id, uri)
        if d is None or not d.flags & DS_PROBING:
            return
        if status == 408:
            d.latency.timed_out()
        else:
            d.latency.update(ms, self.params.latency_alpha)
