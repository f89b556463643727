"""Finding the final answer in an R1-style response."""

from __future__ import annotations

import re

from verifiers.reasoning import split_reasoning

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")


def split_final(response: str) -> tuple[str | None, str]:
    """Return ``(reasoning, final)`` as ``verifiers.reasoning.split_reasoning`` defines them; a
    cut-off trace (a block opened and never closed) has no final part (``""``).

    A response with no reasoning markers has no reasoning part and is all final part.
    """
    split = split_reasoning(response)
    return split.reasoning, split.final if split.complete else ""


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """Content of the ``{...}`` group opening at ``text[start]``, balanced, and the end index."""
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "\\":
            continue
        if ch == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    return None


def boxed_spans(text: str) -> list[tuple[str, int, int]]:
    """``(content, start, end)`` of every complete ``\\boxed{...}`` / ``\\fbox{...}`` in order."""
    out = []
    for m in _BOXED.finditer(text):
        group = _braced(text, m.end())
        if group is not None:
            out.append((group[0].strip(), m.start(), group[1]))
        elif m.end() < len(text) and text[m.end()] != "{":
            # \boxed 5  (no braces): one token
            token = re.match(r"[^\s$.,;]+", text[m.end():])
            if token:
                out.append((token.group(0), m.start(), m.end() + token.end()))
    return out


def boxed_answers(text: str) -> list[str]:
    """Contents of every complete ``\\boxed{...}`` / ``\\fbox{...}`` in order."""
    return [content for content, _, _ in boxed_spans(text)]


def last_boxed(text: str) -> str | None:
    found = boxed_spans(text)
    return found[-1][0] if found else None
