"""Runs INSIDE the sandbox: loads the candidate module and answers function calls.

Protocol: after loading, the driver writes ``{"ready": [names]}`` (or ``{"ce": msg}`` /
``{"load_error": msg}``); then, for each request ``{"name": ..., "args": [...], "kwargs": {...}}``
it writes ``{"ok": value}``, ``{"exc": msg}`` or ``{"bad": msg}`` (the result is not plain data).
Answers are one JSON document per line (the judge parses them with ``json``, which is safe on
hostile input); requests arrive from the trusted judge as length-prefixed ``marshal`` data. The
driver itself imports neither ``json`` nor ``re``, to start fast. Lines are prefixed with a
nonce so that whatever the candidate prints itself is ignored. Values are tagged JSON; only
exact built-in types are accepted, so an object whose ``__eq__`` always returns True cannot come
back. Nothing here is trusted by the judge beyond being plain data: expected values never enter
the sandbox, so a forged answer is no better than a computed one.

Objects of the candidate's own classes stay here: ``{"new": cls, "args", "kwargs"}`` makes one
and answers a handle (``{"__t": "ref", "v": n}``), ``{"obj": n, "name": method, ...}`` calls a
method of it, ``{"obj": n, "attr": name}`` reads an attribute, ``{"obj": n, "set": name, "args": [v]}``
sets one. Linked lists and binary trees
(anything with ``val``/``next`` or ``val``/``left``/``right``) cross as tagged plain lists, the
tree in LeetCode's level order, and are rebuilt on the other side (here with the candidate's
own ``ListNode``/``TreeNode`` when it defines them). With ``leetcode`` as the second argument
the candidate's namespace starts as LeetCode's does (``typing``, ``collections``, ``heapq``,
``bisect``, ... and ``ListNode``/``TreeNode``).
This file must stay standard-library only and importable by a bare ``python -I -S``.
"""

import io
import marshal
import math
import os
import sys

_ESCAPES = {i: f"\\u{i:04x}" for i in range(32)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})


def dumps(value) -> str:
    """JSON text of plain data (what ``encode`` produces)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(dumps(str(k)) + ":" + dumps(v) for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__}")


class ListNode:
    def __init__(self, val=0, next=None):  # noqa: A002 - LeetCode's signature
        self.val = val
        self.next = next


class TreeNode:
    def __init__(self, val=0, left=None, right=None):
        self.val = val
        self.left = left
        self.right = right


MAX_NODES = 1 << 20
_BUILTIN_TYPES = {t.__name__: t for t in (int, float, str, bool, bytes, complex, list, tuple, dict, set, frozenset,
                                          type(None))}


def _list_values(node):
    values, seen = [], set()
    while node is not None:
        if id(node) in seen or len(values) >= MAX_NODES:
            raise TypeError("a linked list with a cycle or too many nodes")
        seen.add(id(node))
        values.append(node.val)
        node = node.next
    return values


def _tree_values(root):
    """LeetCode's level order: children of every present node, trailing Nones dropped."""
    values, queue, seen, i = [], [root], set(), 0
    while i < len(queue):
        node = queue[i]
        i += 1
        if node is None:
            values.append(None)
            continue
        if id(node) in seen or len(seen) >= MAX_NODES:
            raise TypeError("a tree with a cycle or too many nodes")
        seen.add(id(node))
        values.append(node.val)
        queue.extend((node.left, node.right))
    while values and values[-1] is None:
        values.pop()
    return values


def build_list(values, cls=ListNode):
    head = None
    for v in reversed(values):
        node = cls(v)
        node.next = head
        head = node
    return head


def build_tree(values, cls=TreeNode):
    if not values or values[0] is None:
        return None
    nodes = [None if v is None else cls(v) for v in values]
    children = iter(nodes[1:])
    for node in nodes:
        if node is None:
            continue
        node.left, node.right = next(children, None), next(children, None)
    return nodes[0]


def _structure(value):
    """``("ListNode" | "TreeNode", values)`` for a node-like object, else None."""
    if isinstance(value, type):
        return None
    try:
        d = object.__getattribute__(value, "__dict__")
    except AttributeError:
        return None
    if "val" in d and "next" in d:
        return "ListNode", _list_values(value)
    if "val" in d and "left" in d and "right" in d:
        return "TreeNode", _tree_values(value)
    return None


def encode(value, depth=0, ref=None):
    """Plain, tagged JSON for ``value``. Subclasses of built-in types (a Counter, a namedtuple, an
    IntEnum) are copied into the built-in type: whatever their methods do, what leaves is plain
    data, so the judge only ever compares values it built itself. ``ref(value)``: a handle for an
    object that stays on this side, or None."""
    if depth > 100:
        raise TypeError("result nests too deeply")
    if value is None or isinstance(value, bool):
        return None if value is None else bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return {"__t": "float", "v": repr(value)}
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, list):
        return [encode(v, depth + 1, ref) for v in list(value)]
    if isinstance(value, tuple):
        return {"__t": "tuple", "v": [encode(v, depth + 1, ref) for v in tuple(value)]}
    if isinstance(value, frozenset):
        return {"__t": "frozenset", "v": [encode(v, depth + 1, ref) for v in frozenset(value)]}
    if isinstance(value, set):
        return {"__t": "set", "v": [encode(v, depth + 1, ref) for v in set(value)]}
    if isinstance(value, dict):
        return {"__t": "dict", "v": [[encode(k, depth + 1, ref), encode(v, depth + 1, ref)]
                                     for k, v in dict(value).items()]}
    if isinstance(value, bytes):
        return {"__t": "bytes", "v": bytes(value).hex()}
    if isinstance(value, complex):
        return {"__t": "complex", "v": [float(value.real), float(value.imag)]}
    if isinstance(value, type) and _BUILTIN_TYPES.get(value.__name__) is value:
        return {"__t": "type", "v": value.__name__}
    found = _structure(value)
    if found is not None:
        return {"__t": found[0], "v": [encode(v, depth + 1, ref) for v in found[1]]}
    handle = ref(value) if ref is not None else None
    if handle is not None:
        return {"__t": "ref", "v": handle}
    raise TypeError(f"result of type {type(value).__name__} is not plain data")


def decode(value, build=None):
    """The value ``encode`` wrote; ``build(tag, v)`` makes lists, trees and handles on this side."""
    if isinstance(value, list):
        return [decode(v, build) for v in value]
    if isinstance(value, dict):
        tag, v = value.get("__t"), value.get("v")
        if tag == "tuple":
            return tuple(decode(x, build) for x in v)
        if tag == "set":
            return {decode(x, build) for x in v}
        if tag == "frozenset":
            return frozenset(decode(x, build) for x in v)
        if tag == "dict":
            return {decode(k, build): decode(x, build) for k, x in v}
        if tag in ("ListNode", "TreeNode", "ref") and build is not None:
            return build(tag, decode(v, build) if tag != "ref" else v)
        if tag == "bytes":
            return bytes.fromhex(v)
        if tag == "complex":
            return complex(v[0], v[1])
        if tag == "float":
            return float(v)
        if tag == "type" and v in _BUILTIN_TYPES:
            return _BUILTIN_TYPES[v]
        raise ValueError(f"unknown tag {tag!r}")
    return value


class _Sink(io.TextIOBase):
    """Swallows what the candidate prints (bounded, so printing cannot exhaust memory)."""

    def write(self, s):
        return len(s)


def _read_exact(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _requests(fd):
    while True:
        head = _read_exact(fd, 8)
        if head is None:
            return
        body = _read_exact(fd, int.from_bytes(head, "big"))
        if body is None:
            return
        yield marshal.loads(body)


def main():
    nonce = sys.argv[1]
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    request_fd = os.dup(0)
    sys.stdout = _Sink()
    sys.stdin = io.StringIO("")

    def send(obj):
        channel.write(nonce + dumps(obj) + "\n")
        channel.flush()

    with open("solution.py", encoding="utf-8", errors="replace") as fh:
        source = fh.read()
    try:
        code = compile(source, "solution.py", "exec")
    except (SyntaxError, ValueError) as exc:
        send({"ce": f"{type(exc).__name__}: {exc}"[:500]})
        return
    namespace = {"__name__": "solution"}
    if sys.argv[2:3] == ["leetcode"]:
        exec(LEETCODE_PRELUDE, namespace)
        namespace.update(ListNode=ListNode, TreeNode=TreeNode)
    given = dict(namespace)
    try:
        exec(code, namespace)
    except BaseException as exc:  # noqa: BLE001 - any failure of the candidate is reported as such
        send({"load_error": f"{type(exc).__name__}: {exc}"[:500]})
        return
    own = {k for k, v in namespace.items() if k not in given or given[k] is not v}
    send({"ready": sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("__") and k in own),
          "classes": sorted(k for k, v in namespace.items() if isinstance(v, type) and not k.startswith("__")
                            and k in own)})
    objects = []

    def ref(value):
        objects.append(value)
        return len(objects) - 1

    def build(tag, v):
        if tag == "ref":
            return objects[v]
        cls = namespace.get(tag)
        cls = cls if isinstance(cls, type) else (ListNode if tag == "ListNode" else TreeNode)
        return build_list(v, cls) if tag == "ListNode" else build_tree(v, cls)

    instance = None
    for request in _requests(request_fd):
        name = request.get("name")
        try:
            if "new" in request:
                cls = namespace.get(request["new"])
                value = cls(*decode(request.get("args", []), build), **decode(request.get("kwargs", {}), build))
                send({"ok": {"__t": "ref", "v": ref(value)}})
                continue
            if "set" in request:
                setattr(objects[request["obj"]], request["set"], decode(request.get("args", [None]), build)[0])
                send({"ok": None})
                continue
            if "obj" in request:
                target = getattr(objects[request["obj"]], request.get("attr") or name)
                if "attr" in request:
                    send({"callable": True} if callable(target) else {"ok": encode(target, 0, ref)})
                    continue
            else:
                target = namespace.get(name)
                if target is None and "Solution" in namespace:  # LeetCode style: class Solution: def name(self, ...)
                    instance = instance or namespace["Solution"]()
                    target = getattr(instance, name)
            if target is None:
                send({"exc": f"NameError: {name} is not defined"})
                continue
            value = target(*decode(request.get("args", []), build), **decode(request.get("kwargs", {}), build))
        except BaseException as exc:  # noqa: BLE001
            send({"exc": f"{type(exc).__name__}: {exc}"[:500]})
            continue
        try:
            send({"ok": encode(value, 0, ref if "obj" in request else None)})
        except (TypeError, ValueError, RecursionError) as exc:
            send({"bad": str(exc)[:300]})


LEETCODE_PRELUDE = (
    "from typing import *\nfrom collections import *\nfrom heapq import *\nfrom bisect import *\n"
    "from functools import *\nfrom itertools import *\nfrom math import inf\n"
    "import bisect, collections, functools, heapq, itertools, math, operator, string\n")


if __name__ == "__main__":
    main()
