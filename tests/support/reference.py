"""Where the captured Kamailio 5.6 reference material lives, and loaders for it.

The material lives in the repository (``tests/reference/kamailio-5.6``, re-captured from a
real Kamailio by ``scripts/capture-reference``); ``KAMTOOL_KAMAILIO_REF`` points elsewhere.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Path(
    os.environ.get("KAMTOOL_KAMAILIO_REF", REPO / "tests" / "reference" / "kamailio-5.6")
)
RPC_CAPTURES = REFERENCE / "rpc"


@cache
def capture(name: str) -> dict[str, Any]:
    """One JSON-RPC exchange, by file stem: ``capture("ul.dump")``."""
    return json.loads((RPC_CAPTURES / f"{name}.json").read_text())


def capture_names() -> list[str]:
    """Every capture's file stem, sorted."""
    return sorted(p.stem for p in RPC_CAPTURES.glob("*.json"))


def json_kind(value: Any) -> str:
    """The JSON type of ``value``: null, bool, number, string, list or object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def shape_differences(old: Any, new: Any, path: str = "$") -> list[str]:
    """Where ``new`` has another shape than ``old``: other JSON types, other object keys.

    A list is compared by its items: each item of ``new`` must have the shape of some item
    of ``old`` (lists mix shapes: dialog profiles are objects and strings). An empty list
    on either side says nothing about its items, so it matches (a re-capture may hold
    fewer dialogs or bans than the committed one).
    """
    ko, kn = json_kind(old), json_kind(new)
    if ko != kn:
        return [f"{path}: {ko} became {kn}"]
    if ko == "object":
        out = []
        if set(old) != set(new):
            gone, added = sorted(set(old) - set(new)), sorted(set(new) - set(old))
            out.append(f"{path}: keys {gone} gone, {added} new")
        for key in sorted(set(old) & set(new)):
            out += shape_differences(old[key], new[key], f"{path}.{key}")
        return out
    if ko == "list" and old and new:
        out = []
        for i, item in enumerate(new):
            tries = [shape_differences(o, item, f"{path}[{i}]") for o in old]
            if all(tries):
                out.append(min(tries, key=len)[0])
        return out
    return []
