"""Numbers in scientific notation and numbers with units, decided before math-verify sees them.

math-verify reads a gold such as ``4.5e33`` as 4.5 * e * 33 (Euler's number), so every correct
``4.5 \\times 10^{33}`` was rejected and ``\\boxed{18e}`` accepted for a gold ``3e6``; and a boxed
``9.6 \\AA`` or ``3\\,\\mathrm{m/s}`` failed unless the unit sat in ``\\text{}``. Here:

- ``1.2e-5``, ``1.2E+05``, ``1.2 \\times 10^{-5}``, ``1.2\\cdot 10^{-5}`` are one number; a gold
  written in scientific notation accepts answers within half a unit of its last significant
  digit (``4.5e33`` accepts ``4.52 \\times 10^{33}``, not ``4.6 \\times 10^{33}``);
- a number followed by a unit is compared on the number when the gold has no unit or the same
  unit; a different unit (``cm`` against ``m``) is a wrong answer, never silently equal.

Everything is bounded text work (short inputs only), safe in the calling process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_MAX_LEN = 120
_NUMBER = re.compile(
    r"\s*([-+−]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:\s*[eE]\s*([-+−]?\d+)"
    r"|\s*(?:\\times|\\cdot|×|·)\s*10\s*\^\s*(?:\{\s*([-+−]?\d+)\s*\}|([-+−]?\d)))?")
_WRAPPERS = re.compile(r"\\(?:mathrm|text|textrm|operatorname|mbox|rm|mathit)\s*\{([^{}]*)\}")
_SPACES = re.compile(r"\\[,;:! ]|~|\s+")
_UNIT_ALIASES = {
    "\\AA": "Å", "\\angstrom": "Å", "angstrom": "Å", "angstroms": "Å", "Å": "Å",
    "^{\\prime\\prime}": "arcsec", "^\\prime\\prime": "arcsec", "''": "arcsec", "″": "arcsec", "arcsec": "arcsec",
    "^{\\prime}": "arcmin", "^\\prime": "arcmin", "'": "arcmin", "′": "arcmin", "arcmin": "arcmin",
    "^\\circ": "deg", "^{\\circ}": "deg", "°": "deg", "\\degree": "deg", "degrees": "deg", "degree": "deg",
}
_MACROS = {"\\mu": "μ", "\\Omega": "Ω", "\\ohm": "Ω"}
# a unit: words of letters, each maybe with a power (m^2, s^{-1}), joined by / * · or .
_UNIT_WORD = r"[A-Za-zÅμΩ°]+(?:\^\{?-?\d\}?)?"
_UNIT_TEXT = re.compile(rf"{_UNIT_WORD}(?:[/*·.]?{_UNIT_WORD})*")


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    digits: int  # significant digits as written
    scientific: bool  # written as mantissa and power of ten
    unit: str | None  # normalised unit text, None when there is none
    exponent: int = 0


def _clean(text: str) -> str:
    t = text.strip().strip("$").replace("\\left", "").replace("\\right", "").replace("\\displaystyle", "")
    return t.replace("\\(", "").replace("\\)", "").strip()


def _unit(rest: str) -> str | None:
    """The unit after a number, normalised; '' for none; None when ``rest`` is not a unit."""
    r = rest.strip()
    if not r:
        return ""
    for _ in range(3):
        r = _WRAPPERS.sub(r"\1", r)
    r = _SPACES.sub("", r)
    for macro, sub in _MACROS.items():
        r = r.replace(macro, sub)
    if r in _UNIT_ALIASES:
        return _UNIT_ALIASES[r]
    if len(r) > 16 or not _UNIT_TEXT.fullmatch(r):
        return None  # an operator, an expression, a percentage or an unknown macro: not a plain unit
    if re.fullmatch(r"[a-z]", r) and r not in "msg":
        return None  # a lone letter (x, e, i, n): a variable or constant, not a unit (m, s, g are)
    return r.replace("{", "").replace("}", "")


def parse_quantity(text: str) -> Quantity | None:
    """A number (maybe in scientific notation), maybe followed by a unit; None otherwise."""
    if not isinstance(text, str) or len(text) > _MAX_LEN:
        return None
    t = _clean(text)
    m = _NUMBER.match(t)
    if m is None or m.end() == 0:
        return None
    mantissa = m.group(1).replace("−", "-")
    power = m.group(2) or m.group(3) or m.group(4)
    unit = _unit(t[m.end():])
    if unit is None:
        return None
    try:
        value = Decimal(mantissa)
        exponent = int(power.replace("−", "-")) if power else 0
        if abs(exponent) > 400:
            return None
        value = value.scaleb(exponent)
    except (InvalidOperation, ValueError):
        return None
    digits = len(mantissa.lstrip("+-").replace(".", "").lstrip("0")) or 1
    return Quantity(value, digits, power is not None, unit or None, exponent)


def compare(answer: Quantity, gold: Quantity) -> tuple[bool, str]:
    """``(equal, how)`` for an answer and a gold quantity."""
    if answer.unit and gold.unit and answer.unit != gold.unit:
        return False, f"unit {answer.unit} vs {gold.unit}"
    if gold.scientific and gold.value != 0:
        # half a unit in the gold's last significant digit
        magnitude = gold.value.copy_abs().adjusted()
        tolerance = Decimal(5).scaleb(magnitude - gold.digits)
        return abs(answer.value - gold.value) <= tolerance, "scientific"
    return answer.value == gold.value, "unit" if answer.unit or gold.unit else "number"


def as_latex(q: Quantity, original: str) -> str:
    """A scientific-notation gold rewritten so that math-verify does not read ``e`` as Euler's."""
    if not q.scientific:
        return original
    m = _NUMBER.match(_clean(original))
    return f"{m.group(1)} \\times 10^{{{q.exponent}}}" if m else original
