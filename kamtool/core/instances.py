"""Instances: the servers one kamtool manages, each an ``[instance.NAME]`` of kamtool.toml.

The default instance is what the configuration says without ``-i``; a named one
overrides its database URL, RPC endpoint and domain (see :mod:`kamtool.config`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kamtool.config import Settings, instance_names, instance_settings, redact_url

DEFAULT = "default"


def _row(name: str, s: Settings, current: bool) -> dict[str, Any]:
    return {
        "name": name,
        "current": current,
        "db_url": redact_url(s.effective_db_url)
        if not s.unsupported_db_engine or s.db_url
        else f"(none: DBENGINE={s.unsupported_db_engine})",
        "rpc_url": s.rpc_url or "(found automatically)",
        "domain": s.sip_domain,
    }


def list_instances(settings: Settings) -> list[dict[str, Any]]:
    """One row for the default instance, then one per ``[instance.NAME]``, sorted by name.

    A named instance shows the settings it gets: the default ones with its own on top.
    """
    default = replace(settings, instance=None, **settings.shadowed)
    rows = [_row(DEFAULT, default, not settings.instance)]
    for name in instance_names(settings):
        body = settings.section("instance")[name]
        named = replace(default, **instance_settings(name, body))
        rows.append(_row(name, named, name == settings.instance))
    return rows
