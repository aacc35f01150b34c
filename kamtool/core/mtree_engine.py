"""Kamailio's mtree prefix trees (``mtrees`` table) as a pure lookup (no I/O).

The mtree module keeps one tree per ``tname``; each node branches on one character of
the module's ``char_list`` (default ``0123456789``). Matching walks the input from its
first character while the tree has a branch for it: mode 0 answers the value of the
longest prefix passed on the way, mode 2 every value on the way, shortest first.
A character outside ``char_list`` ends the lookup with no match at all (whatever
matched before it), and a prefix with such a character makes Kamailio's whole load
fail, as does a prefix given twice in one tree. Walks stop after 64 characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_CHAR_LIST = "0123456789"
MAX_DEPTH = 64


class MtreeError(ValueError):
    """A row Kamailio would refuse to load."""


@dataclass(frozen=True)
class Match:
    """A value found for an input: the tree's ``prefix`` and its ``value``."""

    prefix: str
    value: str


class Mtree:
    """The trees of the ``mtrees`` table, keyed by name."""

    def __init__(self, char_list: str = DEFAULT_CHAR_LIST) -> None:
        self.char_list = char_list or DEFAULT_CHAR_LIST
        self._outside = re.compile("[^" + re.escape(self.char_list) + "]")
        self.trees: dict[str, dict[str, str]] = {}
        # per tree, a trie as Kamailio builds it: node = [value or None, {char: node}]
        self._tries: dict[str, list[Any]] = {}

    def check_prefix(self, prefix: str) -> None:
        if not prefix:
            raise MtreeError("the prefix must not be empty (Kamailio skips such rows)")
        if len(prefix) >= MAX_DEPTH:
            raise MtreeError(f"the prefix is longer than {MAX_DEPTH - 1} characters")
        if self._outside.search(prefix):
            bad = sorted({c for c in prefix if c not in self.char_list})
            raise MtreeError(
                f"prefix '{prefix}' has character(s) {''.join(bad)!r} outside the mtree "
                f"char_list '{self.char_list}'"
            )

    def add(self, tname: str, prefix: str, value: str) -> None:
        self.check_prefix(prefix)
        tree = self.trees.setdefault(tname, {})
        if prefix in tree:
            raise MtreeError(f"prefix '{prefix}' is twice in tree '{tname}'")
        tree[prefix] = value
        node = self._tries.setdefault(tname, [None, {}])
        for c in prefix:
            child = node[1].get(c)
            if child is None:
                child = node[1][c] = [None, {}]
            node = child
        node[0] = value

    @classmethod
    def from_rows(
        cls, rows: Iterable[Mapping[str, Any]], char_list: str = DEFAULT_CHAR_LIST
    ) -> Mtree:
        """Load rows as Kamailio does; rows with an empty field are skipped as it does."""
        trees = cls(char_list)
        for row in rows:
            if row["tname"] and row["tprefix"] and row["tvalue"]:
                trees.add(row["tname"], row["tprefix"], row["tvalue"])
        return trees

    def __contains__(self, tname: str) -> bool:
        return tname in self.trees

    def walk(self, tname: str, value: str) -> list[Match] | None:
        """Every prefix of ``value`` in the tree, shortest first; None when the walk
        meets a character outside char_list before leaving the tree."""
        children = self._tries.get(tname, [None, {}])[1]
        found: list[Match] = []
        for i, c in enumerate(value[:MAX_DEPTH]):
            if not children:  # no node at this depth: the walk has left the tree
                break
            if c not in self.char_list:
                return None
            node = children.get(c)
            if node is None:
                break
            if node[0] is not None:
                found.append(Match(value[: i + 1], node[0]))
            children = node[1]
        return found

    def walked(self, tname: str, value: str) -> int:
        """How many characters of ``value`` Kamailio's ``mtree.match`` RPC reports as
        PREFIX in mode 0: up to and with the first character that has no branch below
        it (so more than the matching prefix when longer prefixes share its start)."""
        children = self._tries.get(tname, [None, {}])[1]
        length = 0
        for c in value[:MAX_DEPTH]:
            if not children:
                break
            length += 1
            node = children.get(c)
            if node is None:
                break
            children = node[1]
        return length

    def nodes(self, tname: str) -> int:
        """The tree's branching nodes, root included (``nrnodes`` of ``mtree.summary``)."""
        pending, count = [self._tries.get(tname, [None, {}])], 0
        while pending:
            node = pending.pop()
            if node[1]:
                count += 1
                pending.extend(node[1].values())
        return count

    def match(self, tname: str, value: str) -> Match | None:
        """The longest prefix of ``value`` in ``tname`` (``mt_match`` mode 0)."""
        found = self.walk(tname, value)
        return found[-1] if found else None

    def match_all(self, tname: str, value: str) -> list[Match]:
        """Every prefix of ``value`` in ``tname`` (mode 2)."""
        return self.walk(tname, value) or []
