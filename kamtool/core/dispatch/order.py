"""The order Kamailio's dispatcher keeps its sets in: an AVL tree keyed by set id."""

from __future__ import annotations

__all__ = ["avl_post_order"]


def avl_post_order(ids: list[int]) -> list[int]:
    """Set ids in the order Kamailio walks its AVL tree of sets (``dispatcher.list``,
    ``ds_is_from_list`` over all sets): post-order after inserting ``ids`` in turn."""

    def height(n: list | None) -> int:
        return n[3] if n else 0

    def fix(n: list) -> list:
        n[3] = 1 + max(height(n[1]), height(n[2]))
        return n

    def rotate(n: list, left: bool) -> list:
        a, b = (2, 1) if left else (1, 2)
        top = n[a]
        n[a] = top[b]
        top[b] = fix(n)
        return fix(top)

    def insert(n: list | None, key: int) -> list:
        if not n:
            return [key, None, None, 1]
        if key == n[0]:
            return n
        side = 2 if key > n[0] else 1
        n[side] = insert(n[side], key)
        fix(n)
        balance = height(n[1]) - height(n[2])
        if balance > 1:
            if key > n[1][0]:
                n[1] = rotate(n[1], left=True)
            return rotate(n, left=False)
        if balance < -1:
            if key < n[2][0]:
                n[2] = rotate(n[2], left=False)
            return rotate(n, left=True)
        return n

    root = None
    for key in ids:
        root = insert(root, key)
    out: list[int] = []

    def walk(n: list | None) -> None:
        if n:
            walk(n[1])
            walk(n[2])
            out.append(n[0])

    walk(root)
    return out
