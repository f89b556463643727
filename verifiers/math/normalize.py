"""Cheap, bounded normalisation of short answers for the fast path.

Nothing here evaluates an expression: huge powers and long inputs cannot make it slow.
"""

from __future__ import annotations

import re
from fractions import Fraction

_MAX_FAST_LEN = 200
_STRIP_COMMANDS = re.compile(r"\\(?:left|right|displaystyle|textstyle|!|,|;|:| )")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox)\{([^{}]*)\}")
_DEGREES = re.compile(r"\^\s*\{?\\circ\}?")
_INT = re.compile(r"[-+]?\d{1,60}")
_DEC = re.compile(r"[-+]?(?:\d{1,60})?\.\d{1,60}")
_SLASH = re.compile(r"([-+]?\d{1,60})/(\d{1,60})")
_FRAC = re.compile(r"([-+]?)\\frac(?:\{([-+]?\d{1,60})\}|(\d))(?:\{(\d{1,60})\}|(\d))")


def normalize_answer(text: str) -> str:
    s = text.strip()
    if len(s) > _MAX_FAST_LEN:
        return s
    s = s.replace("$", "").replace("\\(", "").replace("\\)", "").replace("\\[", "").replace("\\]", "")
    s = re.sub(r"\\[dtc]frac", r"\\frac", s)
    s = _STRIP_COMMANDS.sub("", s)
    s = _TEXT_WRAPPER.sub(r"\1", s)
    s = _DEGREES.sub("", s)
    s = s.replace("{,}", "")
    s = re.sub(r"\s+", "", s)
    s = s.rstrip(".")
    return s


def as_number(norm: str) -> tuple[Fraction, bool] | None:
    """Parse a normalised answer as an exact number: ``(value, is_exact_form)``.

    ``is_exact_form`` is False for decimals, whose comparison math-verify rounds, so a decimal
    mismatch is left to it rather than decided here.
    """
    if len(norm) > _MAX_FAST_LEN:
        return None
    if _INT.fullmatch(norm):
        return Fraction(int(norm)), True
    if _DEC.fullmatch(norm):
        return Fraction(norm), False
    m = _SLASH.fullmatch(norm)
    if m and int(m.group(2)) != 0:
        return Fraction(int(m.group(1)), int(m.group(2))), True
    m = _FRAC.fullmatch(norm)
    if m:
        num, den = int(m.group(2) or m.group(3)), int(m.group(4) or m.group(5))
        if den == 0:
            return None
        value = Fraction(num, den)
        return (-value if m.group(1) == "-" else value), True
    return None
