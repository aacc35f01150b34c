"""A recursive JSON shape comparator: same keys in the same order, same nesting, same
types; values (times, ids, counts) may differ."""

from __future__ import annotations

from typing import Any

from kamtool.rpc.kamjson import LazyList


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    raise TypeError(type(v))


def shape_diff(ours: Any, ref: Any, path: str = "$") -> list[str]:
    """Differences between the shape of ``ours`` and ``ref`` (empty list: same shape).

    ``null`` in the reference accepts a string (and the other way round): Kamailio prints
    null for unset strings. Arrays: every element of ours must have the shape of some
    element of the reference (arrays can be mixed, e.g. dlg profiles); an empty array on
    either side cannot be compared element-wise and only has to be an array.
    """
    if isinstance(ours, LazyList):  # a streamed answer's long array, made on demand
        ours = ours.items()
    k_ours, k_ref = _kind(ours), _kind(ref)
    if {k_ours, k_ref} <= {"null", "string"}:
        return []
    if k_ours != k_ref:
        return [f"{path}: {k_ours} != {k_ref}"]
    if k_ours == "object":
        if list(ours) != list(ref):
            return [f"{path}: keys {list(ours)} != {list(ref)}"]
        out: list[str] = []
        for key in ref:
            out += shape_diff(ours[key], ref[key], f"{path}.{key}")
        return out
    if k_ours == "array" and ours and ref:
        out = []
        for i, item in enumerate(ours):
            options = [shape_diff(item, r, f"{path}[{i}]") for r in ref]
            if all(options):
                out += min(options, key=len)
        return out
    return []


def same_shape(ours: Any, ref: Any) -> bool:
    return not shape_diff(ours, ref)
