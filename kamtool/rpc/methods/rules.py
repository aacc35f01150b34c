"""``dialplan.*`` and ``mtree.*`` as Kamailio 5.6's dialplan and mtree modules answer them,
over the proxy's copies of the tables (:class:`kamtool.proxy.rule_tables.RuleTables`).

Answers and fault messages were compared with a real Kamailio 5.6 (the tests in
tests/ksr/test_rule_tables.py run the same kamtool commands against both).
"""

from __future__ import annotations

from typing import Any

from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["register"]

_NODE_SIZE = 24  # bytes of one branch of Kamailio's mtree node arrays (64-bit build)


def _null(text: str) -> str | None:
    return text or None  # Kamailio prints empty strings as null


def register(registry: Registry, tables: Any) -> None:
    """The dialplan and mtree methods of ``tables``."""
    from kamtool.proxy.rule_tables import TableLoadError

    def dp_reload() -> dict[str, Any]:
        try:
            tables.reload_dialplan()
        except TableLoadError as exc:
            raise RpcFault(500, f"Reload failed: {exc}") from exc
        return {}

    def dp_translate(dpid: int, value: str) -> dict[str, Any]:
        plan = tables.dialplan
        if dpid not in plan:
            raise RpcFault(500, "Dialplan ID not matched")
        if not value:
            raise RpcFault(500, "Empty input parameter")
        found = plan.translate(dpid, value)  # no SIP message: \u and $var stay as written
        if found is None:
            raise RpcFault(500, "No translation")
        return {"Output": found.output, "Attributes": _null(found.attrs)}

    def dp_dump(dpid: int) -> dict[str, Any]:
        plan = tables.dialplan
        if dpid not in plan:
            raise RpcFault(500, "Dialplan ID not matched")
        entries = [
            {"ENTRY": {"PRIO": r.pr, "MATCHOP": r.match_op, "MATCHEXP": _null(r.match_exp),
                       "MATCHLEN": r.match_len, "SUBSTEXP": _null(r.subst_exp),
                       "REPLEXP": _null(r.repl_exp), "ATTRS": _null(r.attrs)}}
            for r in plan.ordered(dpid)
        ]  # fmt: skip
        return {"DPID": dpid, "ENTRIES": entries}

    registry.add("dialplan.reload", dp_reload, "Reload the dialplan rules from the database.")
    registry.add(
        "dialplan.translate", dp_translate,
        "Translate a value with the rules of a dialplan id. Parameters: dpid, value.",
        Param("dpid", "int"), Param("value"),
    )  # fmt: skip
    registry.add(
        "dialplan.dump", dp_dump, "The rules of a dialplan id, in the order they are tried.",
        Param("dpid", "int"),
    )  # fmt: skip
    _register_mtree(registry, tables)


def _register_mtree(registry: Registry, tables: Any) -> None:
    from kamtool.proxy.rule_tables import TableLoadError

    def reload(tname: str | None = None) -> str:
        # Kamailio reloads only the named tree; the whole table is read again here
        try:
            tables.reload_mtree()
        except TableLoadError as exc:
            raise RpcFault(500, f"Mtree reload failed: {exc}") from exc
        return "Ok. Mtrees reloaded."

    def chosen(tname: str | None) -> list[str]:
        names = [n for n in tables.mtree.trees if tname is None or n.startswith(tname)]
        if not names:
            raise RpcFault(404, "Empty tree list.")
        return names

    def list_(tname: str | None = None) -> list[dict[str, Any]]:
        trees = tables.mtree
        order = {c: i for i, c in enumerate(trees.char_list)}
        out = []
        for name in chosen(tname):
            prefixes = trees.trees[name]
            # the trie's depth-first order along char_list, as Kamailio walks it
            for prefix in sorted(prefixes, key=lambda p: [order.get(c, 0) for c in p]):
                out.append({"tname": name, "tprefix": prefix, "tvalue": [prefixes[prefix]]})
        return out

    def summary(tname: str | None = None) -> list[dict[str, Any]]:
        trees = tables.mtree
        out = []
        for name in chosen(tname):
            values = trees.trees[name].values()
            nodes = trees.nodes(name)
            memsize = nodes * len(trees.char_list) * _NODE_SIZE + sum(
                len(v.encode()) + 1 for v in values
            )
            # Kamailio 5.6 answers reload_count 0 after any number of reloads (the
            # counter lives in the tree that a reload replaces); kamtool counts them
            out.append({"table": name, "item": {
                "ttype": 0, "memsize": memsize, "nrnodes": nodes, "nritems": len(values),
                "reload_count": tables.mtree_reloads, "reload_time": tables.mtree_loaded_at,
            }})  # fmt: skip
        return out

    def match(tname: str, value: str, mode: int) -> dict[str, Any]:
        trees = tables.mtree
        if mode not in (0, 2):
            raise RpcFault(500, "Invalid parameter 'mode'")
        if tname not in trees:
            raise RpcFault(404, "Tree not found")
        found = trees.walk(tname, value)
        if not found:
            raise RpcFault(404, "Prefix not found")
        last = found[-1]
        # mode 0 names the part of the input walked; mode 2's JSON-RPC answer holds
        # only the last (longest) match, with its own prefix
        prefix = value[: trees.walked(tname, value)] if mode == 0 else last.prefix
        return {"PREFIX": prefix, "TVALUE": last.value}

    registry.add("mtree.reload", reload, "Reload the mtrees table.", Param("tname", required=False))
    registry.add(
        "mtree.list", list_, "The prefixes and values of the trees (or those named tname...).",
        Param("tname", required=False),
    )  # fmt: skip
    registry.add(
        "mtree.summary", summary, "Nodes, items and memory of each tree.",
        Param("tname", required=False),
    )  # fmt: skip
    registry.add(
        "mtree.match", match,
        "Match a value in a tree. Parameters: tname, value, mode (0 longest, 2 all).",
        Param("tname"), Param("value"), Param("mode", "int"),
    )  # fmt: skip
