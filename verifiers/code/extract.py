"""Finding the candidate program in a response."""

from __future__ import annotations

import re

from verifiers.math import split_final

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)
_LANG = {"python": "python", "py": "python", "python3": "python", "cpp": "cpp", "c++": "cpp", "cc": "cpp"}


def extract_code_block(response: str) -> tuple[str, str | None] | None:
    """``(code, language)`` of the last fenced block of the final part (after ``</think>``)."""
    if not isinstance(response, str):
        return None
    _, final = split_final(response)
    blocks = _FENCE.findall(final)
    if not blocks:
        return None
    lang, code = blocks[-1]
    return code, _LANG.get(lang.lower()) if lang else None


def extract_code(response: str) -> str | None:
    found = extract_code_block(response)
    return found[0] if found else None
