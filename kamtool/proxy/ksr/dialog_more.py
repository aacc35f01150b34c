"""More of ``KSR.dialog``: profile tests and sizes written to a variable, dialog
variables, the lifetime and BYEs of the current dialog, with Kamailio 5.6's return codes.

"The current dialog" is the one Kamailio's ``dlg_get_msg_dialog()`` finds: for an
initial INVITE, the dialog ``t_relay()`` created (after ``dlg_manage()``); for any other
message, the tracked dialog named by the ``did`` of our Route (``loose_route()``), else
the one with the message's Call-ID and tags. An initial INVITE whose route called
``dlg_manage()`` but has not relayed yet has a *pending* dialog: its profiles are the ones
``set_dlg_profile()`` collected.

Profiles are declared as Kamailio's modparams declare them: ``[proxy]
dlg_profiles_with_value`` and ``dlg_profiles_no_value`` (``"caller;callee"``). Then a name
declared in neither is refused (-1, logged), a with-value profile needs a value to be set,
and a no-value profile ignores one. With neither key set (kamtool's default) any name is a
profile, "with value" when a value is given.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from kamtool.proxy.dialogs import DLG_STATE_CONFIRMED_NA, DLG_STATE_DELETED, Dialog
from kamtool.proxy.ksr import pv as ksr_pv
from kamtool.proxy.ksr.context import DLG_VARS, REQUEST, MsgContext, e_and_w, field, state
from kamtool.sip.errors import ParseError

log = logging.getLogger("kamtool.route")

_VARS = DLG_VARS  # where $dlg_var(...) keeps its values (kamtool.proxy.ksr.pv)


def current_dialog(ctx: MsgContext) -> Dialog | None:
    """The tracked dialog of the message (module docstring), without changing it."""
    stx_dialog = getattr(ctx.stx, "ctx", None) if ctx.stx is not None else None
    if isinstance(stx_dialog, Dialog):
        return stx_dialog  # the initial INVITE, relayed
    if ctx.parts.dialogs is None:
        return None
    try:
        return ctx.parts.dialog_steps.dialog_of(ctx.msg, ctx.loose)
    except (ParseError, AttributeError, TypeError):
        return None


def _pending(ctx: MsgContext) -> bool:
    """An initial INVITE whose dialog ``t_relay()`` will create (dlg_manage() called)."""
    return bool(ctx.dialog) and ctx.msg.is_request and not field(ctx.msg, "to_tag")


_ANY, _VALUE, _PLAIN = "any", "value", "plain"


@functools.lru_cache(maxsize=8)
def _declared(with_value: str, no_value: str) -> dict[str, str]:
    names = {n.strip(): _VALUE for n in with_value.split(";") if n.strip()}
    names.update({n.strip(): _PLAIN for n in no_value.split(";") if n.strip()})
    return names


def profile_kind(ctx: MsgContext, profile: str) -> str | None:
    """``"value"`` or ``"plain"`` for a declared profile, ``"any"`` when none is declared,
    None (logged) for a name the declarations do not have."""
    cfg = ctx.parts.config
    declared = _declared(getattr(cfg, "dlg_profiles_with_value", ""),
                         getattr(cfg, "dlg_profiles_no_value", ""))  # fmt: skip
    if not declared:
        return _ANY
    kind = declared.get(profile)
    if kind is None:
        log.error("dialog profile %r is not declared (dlg_profiles_with_value/_no_value)",
                  profile)  # fmt: skip
    return kind


def set_dlg_profile(profile: str, value: str = "") -> int:
    """Put the dialog in ``profile`` (with ``value``); the latest first, as dlg.list
    shows Kamailio's. -1 for an undeclared profile, or one declared with values and
    given none."""
    ctx = state.ctx
    profile, value = str(profile), str(value or "")
    kind = profile_kind(ctx, profile) if profile else None
    if kind is None or (kind == _VALUE and not value):
        return -1
    if kind == _PLAIN:
        value = ""
    ctx.dialog = True
    ctx.profiles.insert(0, {profile: value} if value else profile)
    return 1


def _has(profiles: list[Any], profile: str, value: str | None) -> bool:
    for p in profiles:
        if isinstance(p, dict):
            if profile in p and (value is None or p[profile] == value):
                return True
        elif p == profile and value is None:
            return True
    return False


# ------------------------------------------------------------------ profiles


def is_in_profile(profile: str, value: str = "") -> int:
    """1 when the current dialog is in ``profile`` (with ``value`` when one is given);
    -1 otherwise, and outside a dialog."""
    ctx = state.ctx
    profile, value = str(profile), str(value or "")
    if not profile or profile_kind(ctx, profile) is None:
        return -1
    dialog = current_dialog(ctx)
    if dialog is not None and dialog.state != DLG_STATE_DELETED:
        profiles = dialog.profiles
    elif _pending(ctx):
        profiles = ctx.profiles
    else:
        return -1
    return 1 if _has(profiles, profile, value or None) else -1


def set_dlg_profile_static(profile: str) -> int:
    """``set_dlg_profile(profile)`` for a profile without values."""
    return set_dlg_profile(profile) if str(profile) else -1


def unset_dlg_profile(profile: str, value: str = "") -> int:
    """Take the current dialog out of ``profile`` (with ``value``). As Kamailio: -1 in
    a request route, outside a dialog, or when the dialog is not in that profile."""
    ctx = state.ctx
    profile, value = str(profile), str(value or "")
    if not profile or ctx.kind == REQUEST or profile_kind(ctx, profile) is None:
        return -1
    dialog = current_dialog(ctx)
    if dialog is None or dialog.state == DLG_STATE_DELETED:
        return -1
    tracker = ctx.parts.dialogs
    for i, p in enumerate(dialog.profiles):
        if isinstance(p, dict):
            if profile in p and (not value or p[profile] == value):
                tracker.leave_profile(dialog, i)
                return 1
        elif p == profile and not value:
            tracker.leave_profile(dialog, i)
            return 1
    return -1


def _write_size(pvname: str, size: int) -> int:
    # Kamailio writes the size only into $var(...) or $avp(...) (a script variable or AVP)
    name = str(pvname).strip()
    if not (name.startswith("$var(") or name.startswith("$avp(")) or not name.endswith(")"):
        log.error("get_profile_size: the result must go to a $var or $avp, not %r", name)
        return -1
    return 1 if ksr_pv.seti(name, size) else -1


def get_profile_size(profile: str, value: str = "", pvname: str | None = None) -> int:
    """Kamailio: the number of dialogs in ``profile`` (with ``value``) written to the
    variable ``pvname``; 1, or -1 when it cannot be written (also for pvname ""). Called
    without ``pvname`` (a kamtool extension older scripts use) it returns the size itself,
    and profile "" counts every dialog."""
    dialogs = state.ctx.parts.dialogs
    profile, value = str(profile), str(value or "")
    if pvname is None:
        return dialogs.profile_size(profile, value or None)
    if not profile or not str(pvname) or profile_kind(state.ctx, profile) is None:
        return -1
    return _write_size(pvname, dialogs.profile_size(profile, value or None))


def get_profile_size_static(profile: str, pvname: str) -> int:
    """The size of ``profile`` (all values) into ``pvname``: 1, or -1."""
    if not str(profile) or not str(pvname) or profile_kind(state.ctx, str(profile)) is None:
        return -1
    return _write_size(pvname, state.ctx.parts.dialogs.profile_size(str(profile), None))


# ------------------------------------------------------------------ lifetime, BYE


def dlg_set_timeout(seconds: int) -> int:
    """The current dialog ends (BYE both ways) ``seconds`` from now once it is
    confirmed, or from now if it already is: 1; -1 without a dialog."""
    ctx = state.ctx
    dialog = current_dialog(ctx)
    if dialog is None and _pending(ctx):  # t_relay() creates it with this lifetime
        ctx.dlg_lifetime = int(seconds)
        return 1
    if dialog is None or dialog.state == DLG_STATE_DELETED:
        return -1
    ctx.parts.dialogs.set_lifetime(dialog, int(seconds))
    return 1


def dlg_bye(side: str) -> int:
    """BYE from the proxy to the ``caller``, the ``callee`` or (anything else) both sides
    of the current dialog, which then ends: 1; -1 without a confirmed dialog."""
    ctx = state.ctx
    dialog = current_dialog(ctx)
    if dialog is None or dialog.state < DLG_STATE_CONFIRMED_NA or dialog.state == DLG_STATE_DELETED:
        return -1
    which = str(side).lower()
    sides = (which,) if which in ("caller", "callee") else ("callee", "caller")
    ctx.parts.dialogs.end_with_byes(dialog, sides)
    return 1


# ------------------------------------------------------------------ variables


def _vars(ctx: MsgContext, create: bool) -> dict[str, Any] | None:
    """The current dialog's variables, shared with ``$dlg_var(...)`` for this message;
    None outside a dialog (then Kamailio's KEMI getters read nothing)."""
    dialog = current_dialog(ctx)
    if dialog is not None:
        ctx.avps[_VARS] = dialog.vars  # $dlg_var reads the same dict
        return dialog.vars
    if _pending(ctx) or create:
        return ctx.avps.setdefault(_VARS, {})
    return None


def var_sets(name: str, value: str) -> int:
    """Set the dialog variable (outside a dialog: for this message only): 1."""
    store = _vars(state.ctx, create=True)
    assert store is not None
    store[str(name)] = str(value)
    return 1


def _var(name: str) -> str | None:
    ctx = state.ctx
    if current_dialog(ctx) is None and not _pending(ctx):
        return None
    store = _vars(ctx, create=False)
    return None if store is None else store.get(str(name))


def var_get(name: str) -> str | None:
    return _var(name)


var_gete, var_getw = e_and_w(var_get)


def var_rm(name: str) -> int:
    store = _vars(state.ctx, create=False)
    if store is not None:
        store.pop(str(name), None)
    return 1


def var_is_null(name: str) -> int:
    return 1 if _var(name) is None else -1


def dialog_more_functions() -> dict[str, Any]:
    """The functions above by their KSR.dialog names."""
    return dict(
        is_in_profile=is_in_profile, is_in_profile_static=lambda p: is_in_profile(p),
        set_dlg_profile=set_dlg_profile, set_dlg_profile_static=set_dlg_profile_static,
        unset_dlg_profile=unset_dlg_profile,
        unset_dlg_profile_static=lambda p: unset_dlg_profile(p),
        get_profile_size=get_profile_size, get_profile_size_static=get_profile_size_static,
        dlg_set_timeout=dlg_set_timeout, dlg_bye=dlg_bye,
        var_sets=var_sets, var_get=var_get, var_gete=var_gete, var_getw=var_getw,
        var_rm=var_rm, var_is_null=var_is_null,
    )  # fmt: skip
