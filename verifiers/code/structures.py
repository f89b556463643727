"""LeetCode's linked lists and binary trees on the judge's side of the call protocol.

Tests build them with ``list_node``/``tree_node`` and compare them with ``is_same_list``/
``is_same_tree`` (or ``==``); they cross into the sandbox as plain lists (``call_driver``) and
what comes back is rebuilt here from plain data, so every comparison is between objects the
judge made itself.
"""

from __future__ import annotations

import verifiers.code.call_driver as call_driver


class ListNode(call_driver.ListNode):
    def __eq__(self, other):
        return isinstance(other, ListNode) and call_driver._list_values(self) == call_driver._list_values(other)

    __hash__ = None

    def __repr__(self):
        return f"list_node({call_driver._list_values(self)!r})"


class TreeNode(call_driver.TreeNode):
    def __eq__(self, other):
        return isinstance(other, TreeNode) and call_driver._tree_values(self) == call_driver._tree_values(other)

    __hash__ = None

    def __repr__(self):
        return f"tree_node({call_driver._tree_values(self)!r})"


def list_node(values):
    return call_driver.build_list(list(values), ListNode)


def tree_node(values):
    return call_driver.build_tree(list(values), TreeNode)


def is_same_list(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and
                                         call_driver._list_values(a) == call_driver._list_values(b))


def is_same_tree(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and
                                         call_driver._tree_values(a) == call_driver._tree_values(b))


HELPERS = {"ListNode": ListNode, "TreeNode": TreeNode, "list_node": list_node, "tree_node": tree_node,
           "is_same_list": is_same_list, "is_same_tree": is_same_tree}


def rebuild(tag: str, values):
    return list_node(values) if tag == "ListNode" else tree_node(values)
