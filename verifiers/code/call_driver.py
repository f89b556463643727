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


def encode(value, depth=0):
    """Plain, tagged JSON for ``value``. Subclasses of built-in types (a Counter, a namedtuple, an
    IntEnum) are copied into the built-in type: whatever their methods do, what leaves is plain
    data, so the judge only ever compares values it built itself."""
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
        return [encode(v, depth + 1) for v in list(value)]
    if isinstance(value, tuple):
        return {"__t": "tuple", "v": [encode(v, depth + 1) for v in tuple(value)]}
    if isinstance(value, frozenset):
        return {"__t": "frozenset", "v": [encode(v, depth + 1) for v in frozenset(value)]}
    if isinstance(value, set):
        return {"__t": "set", "v": [encode(v, depth + 1) for v in set(value)]}
    if isinstance(value, dict):
        return {"__t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in dict(value).items()]}
    if isinstance(value, bytes):
        return {"__t": "bytes", "v": bytes(value).hex()}
    if isinstance(value, complex):
        return {"__t": "complex", "v": [float(value.real), float(value.imag)]}
    raise TypeError(f"result of type {type(value).__name__} is not plain data")


def decode(value):
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        tag, v = value.get("__t"), value.get("v")
        if tag == "tuple":
            return tuple(decode(x) for x in v)
        if tag == "set":
            return {decode(x) for x in v}
        if tag == "frozenset":
            return frozenset(decode(x) for x in v)
        if tag == "dict":
            return {decode(k): decode(x) for k, x in v}
        if tag == "bytes":
            return bytes.fromhex(v)
        if tag == "complex":
            return complex(v[0], v[1])
        if tag == "float":
            return float(v)
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
    try:
        exec(code, namespace)
    except BaseException as exc:  # noqa: BLE001 - any failure of the candidate is reported as such
        send({"load_error": f"{type(exc).__name__}: {exc}"[:500]})
        return
    send({"ready": sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("__")),
          "classes": sorted(k for k, v in namespace.items() if isinstance(v, type) and not k.startswith("__"))})
    instance = None
    for request in _requests(request_fd):
        name = request["name"]
        target = namespace.get(name)
        if target is None and "Solution" in namespace:  # LeetCode style: class Solution: def name(self, ...)
            try:
                instance = instance or namespace["Solution"]()
                target = getattr(instance, name)
            except BaseException as exc:  # noqa: BLE001
                send({"exc": f"{type(exc).__name__}: {exc}"[:500]})
                continue
        if target is None:
            send({"exc": f"NameError: {name} is not defined"})
            continue
        try:
            value = target(*decode(request.get("args", [])), **decode(request.get("kwargs", {})))
        except BaseException as exc:  # noqa: BLE001
            send({"exc": f"{type(exc).__name__}: {exc}"[:500]})
            continue
        try:
            send({"ok": encode(value)})
        except (TypeError, ValueError, RecursionError) as exc:
            send({"bad": str(exc)[:300]})


if __name__ == "__main__":
    main()
