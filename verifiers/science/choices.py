"""Which option letters a response's final part names as its answer.

Forms, strongest first: ``\\boxed{C}`` (every box counts), answer statements ("the answer is
(C)", "Answer: C", "**Final Answer:** C", "the correct option is C"), a line that is only the
letter ("(C)", "C.", ``**C. text**``), the text of exactly one option, and last the final "(C)" /
"option C" anywhere. Before reading, ``\\text{}``/``\\textbf{}`` wrappers, ``$...$``, quotes and
markdown emphasis are removed, so ``Answer: "C"``, ``Answer: $C$`` and ``\\textbf{C}`` read as C.

A final part hedges when it names another option as possibly the answer: two boxes with
different letters, two answer statements that disagree, a list ("B or D", "(B) or (D)", "B/D",
"either B or D"; two letters joined by "or" anywhere, so a bare "(B) or (D)" too), or a hedge
anywhere ("B (or possibly D)", "B, although D is also possible", "it could also be D",
"Alternatively, the answer is D"). Every option so named is returned, and the caller calls two or
more ``ambiguous_answer``. Options that are only discussed ("D is wrong", "B, not D", "A or B are
wrong") are not named.

A bare letter is read only where it cannot be a word: lowercase only in parentheses or before
punctuation ("the answer is a decrease" names no option), "A"/"I" not when a content word follows
("A decrease", "I think"), and not after a word that makes it a label ("vitamin C",
"statement I").
"""

from __future__ import annotations

import re
import unicodedata

from verifiers.math.extract import boxed_spans

LETTERS = "ABCDEFGHIJKLMNOP"

_BOX_OPEN, _BOX_CLOSE = "\u27e6", "\u27e7"  # boxes are kept in the plain text as ⟦content⟧
_BOX_CONTENT = re.compile(_BOX_OPEN + "([^" + _BOX_OPEN + _BOX_CLOSE + "]*)" + _BOX_CLOSE)
_WRAPPER = re.compile(r"\\(?:text|textbf|textit|textrm|texttt|mathrm|mathbf|mathit|emph|operatorname)\s*\{([^{}]*)\}")
_QUOTED_LETTER = re.compile(r"[\"“”'‘’`]\s*(\(?[A-Pa-p]\)?)\s*[\"“”'‘’`]")
_BOLD_OPTION_LINE = re.compile(r"^[ \t]*\*\*[ \t]*\(?([A-P])\)?[.):][ \t]+[^*\n]+\*\*[ \t]*\.?[ \t]*$", re.MULTILINE)
_LONE_LINE = re.compile(r"^[ \t]*(?:#+[ \t]*)?\(?([A-P])\)?[.):]?[ \t]*$", re.MULTILINE)

# One letter token: "(C)", "C", "(c)"; which of them are letters is decided by _is_letter.
_LT = r"(?<![A-Za-z0-9\\])\(?[ \t]*(?P<{0}>[A-Pa-p])[ \t]*\)?(?![A-Za-z0-9])"
_OPT = r"(?:(?:option|choice|answer)\s+)?"
_LETTER = _LT.format("l")

_STATEMENT = re.compile(
    r"(?:\bfinal\s+answer(?:\s+(?:choice|option))?\s*(?:is|would\s+be|:|=|[—–-])?"
    r"|\banswer(?:\s+(?:choice|option))?\s*(?:is|would\s+be|must\s+be|should\s+be|will\s+be|:|=|[—–])"
    r"|\b(?:correct|right|best)\s+(?:answer|option|choice)(?:\s+(?:choice|option))?\s*(?:is|would\s+be|:|=)?)"
    r"[\s:\"'“”`]*(?:(?:therefore|thus|hence|so|clearly|definitely|probably|likely|most\s+likely)[\s,]+)?"
    r"(?:either\s+|between\s+)?" + _OPT + _LETTER, re.IGNORECASE)
# after a named letter: more letters in a list ("B or D", "B, C", "B and/or D", "B/D")
_LIST_TAIL = re.compile(
    r"\s*(?:,\s*(?:and\s+|or\s+)?|/|&|\band/or\b|\band\b|\bor(?:\s+else)?\b|\bvs\.?)\s*"
    r"(?:(?:possibly|maybe|perhaps|potentially|even|alternatively|also)\s+)?" + _OPT + _LETTER, re.IGNORECASE)
_NEW_CLAUSE = re.compile(r"\s+(?:is|are|was|were|would|does|do|has|can|cannot|fails|must)\b", re.IGNORECASE)

_MAYBE_RIGHT = (r"(?:possible|plausible|defensible|viable|acceptable|arguable|reasonable|valid|correct|right"
                r"|an?\s+(?:possibility|option|contender|candidate|alternative|possible\s+answer))\b")
_HEDGES = [re.compile(p, re.IGNORECASE) for p in (
    # "possibly D", "perhaps (D)", "Alternatively, the answer is D", "or maybe option D"
    r"\b(?:possibly|perhaps|maybe|alternatively|conceivably|or\s+else)\b[,:]?\s+(?:also\s+|even\s+)?"
    r"(?:(?:it(?:'s|\s+is)|the\s+answer\s+(?:is|could\s+be|might\s+be))\s+)?" + _OPT + _LETTER,
    # "it could also be D", "the answer might be (D)", "would also be D"
    r"\b(?:(?:could|might|may|can)(?:\s+(?:also|equally|well|just\s+as\s+well))?|would\s+(?:also|equally))"
    r"\s+be\s+" + _OPT + _LETTER,
    # "(or D)", "(or option D)"
    r"\(\s*or\s+" + _OPT + _LETTER,
    # "D is also possible", "D is equally valid", "D is also a contender"
    _OPT + _LETTER + r"\s+(?:is|seems|looks|would\s+be)\s+(?:also|equally)\s+" + _MAYBE_RIGHT,
    # "D could also be correct", "D might be the answer", "D may also work"
    _OPT + _LETTER + r"\s+(?:could|might|may)\s+(?:also\s+|equally\s+|arguably\s+|well\s+)?(?:be\s+)?"
    r"(?:" + _MAYBE_RIGHT + r"|the\s+(?:answer|intended)|argued|justified|defended|work)",
    # "D also works", "D cannot be ruled out"
    _OPT + _LETTER + r"\s+(?:also\s+(?:works|fits|holds|applies)|(?:cannot|can't|can\s+not)\s+be\s+"
    r"(?:ruled\s+out|excluded|dismissed|eliminated))\b",
    # "both B and D", "either B or D"
    r"\b(?:both|either)\s+" + _OPT + _LETTER + r"\s+(?:and|or)\s+" + _OPT + _LT.format("l2"),
)]
# two letters offered as alternatives: "(B) or (D)", "B or (D)", "(B)/(D)"; a hedge only when both are letters
# ("vitamin C or D" names one letter and no pair) and the pair is not being ruled out ("A or B is wrong",
# "not A or B")
_RULED_OUT_AFTER = re.compile(r"[ \t]+(?:is|are|was|were|seems?|looks?)[ \t]+(?:both[ \t]+|also[ \t]+|clearly[ \t]+)?"
                              r"(?:not\b|wrong|incorrect|false|ruled|eliminated|excluded|impossible|unlikely)",
                              re.IGNORECASE)
_RULED_OUT_BEFORE = re.compile(r"\b(?:not|neither|nor|rule[ \t]+out|rules[ \t]+out|eliminate|eliminates|excluding"
                               r"|exclude)[ \t]+(?:options?[ \t]+|choices?[ \t]+)?$", re.IGNORECASE)
_PAIRS = [re.compile(p, re.IGNORECASE) for p in (
    _LETTER + r"[ \t]+or[ \t]+" + _OPT + _LT.format("l2"),
    r"(?<![A-Za-z0-9])\([ \t]*(?P<l>[A-Pa-p])[ \t]*\)[ \t]*/[ \t]*\([ \t]*(?P<l2>[A-Pa-p])[ \t]*\)",
)]
# the weakest form: the last "(C)" or "option C" anywhere
_WEAK = re.compile(r"(?<![A-Za-z0-9])\((?P<l>[A-Pa-p])\)(?![A-Za-z0-9])|\b(?:option|choice)\s+" + _LT.format("l2"),
                   re.IGNORECASE)

# A bare "A" or "I" followed by one of these is still a letter ("A because ...", "I is correct").
_FUNCTION_WORDS = frozenset(
    "because since as is was and or but which that given due so for here in on at by with from if when while "
    "though although also possibly maybe perhaps probably it this these then hence thus therefore not only "
    "being be has remains seems fits works matches best correct right".split())
_MODALS = frozenset("would could might may can cannot must should will".split())  # "A would" is a letter, "I would" not
# after these a capital letter is a label, not an option ("vitamin C", "statement I", "type A")
_LABEL_WORDS = frozenset(
    "statement statements type types part case class phase vitamin vitamins hepatitis group site point region "
    "chain strain blood grade plan series stage level layer zone sample scenario species object body block "
    "particle charge wire box tank planet star team player person country company firm patient allele gene "
    "receptor channel drug tube".split())
_PRECEDING_WORD = re.compile(r"([A-Za-z]+)[ \t]*$")
_FOLLOWING_WORD = re.compile(r"\)?[ \t]+([a-z]+)")


def plain_text(final: str) -> str:
    """The final part with boxes as ``⟦content⟧`` and wrappers, math delimiters, quotes around a
    letter and markdown emphasis removed (a letter keeps its parentheses)."""
    parts, at = [], 0
    for content, start, end in boxed_spans(final):
        parts += [final[at:start], _BOX_OPEN, content.replace(_BOX_OPEN, "").replace(_BOX_CLOSE, ""), _BOX_CLOSE]
        at = end
    text = "".join(parts) + final[at:]
    for _ in range(3):  # nested wrappers: \textbf{\text{C}}
        text = _WRAPPER.sub(r"\1", text)
    text = re.sub(r"\\[()\[\]]|\$", " ", text)
    text = _QUOTED_LETTER.sub(r"\1", text)
    return text


def _is_letter(text: str, at: int, bare: bool) -> bool:
    """Whether the token at ``text[at]`` is an option letter (see the module docstring).
    ``bare``: not in parentheses and not after "option"/"choice"."""
    ch = text[at]
    before, after = text[:at], text[at + 1:]
    if before.rstrip(" \t").endswith("(") and after.lstrip(" \t").startswith(")"):
        return True
    if ch.islower():
        return re.match(r"[ \t]*\)?[ \t]*(?:[.,;:!?\]*]|$)", after) is not None
    if not bare:
        return True
    prev = _PRECEDING_WORD.search(before)
    if prev and prev.group(1).lower() in _LABEL_WORDS:
        return False
    if ch in "AI":
        nxt = _FOLLOWING_WORD.match(after)
        allowed = _FUNCTION_WORDS | (_MODALS if ch == "A" else frozenset())
        if nxt and nxt.group(1) not in allowed:
            return False
    return True


def _letters_in(match: re.Match, text: str, names=("l", "l2")) -> list[tuple[str, int]]:
    """(letter, position) of each named letter group of ``match`` that is a letter."""
    out = []
    for name in names:
        if name in match.re.groupindex and match.group(name):
            at = match.start(name)
            head = match.group(0)[: at - match.start()].lower()
            bare = not re.search(r"(?:option|choice|answer)\s*$", head)
            if _is_letter(text, at, bare):
                out.append((text[at].upper(), at))
    return out


def _with_list_tail(text: str, letter: str, end: int) -> set[str]:
    """``letter`` and the letters listed right after it ("B or D", "B, C and E")."""
    found = {letter}
    while True:
        m = _LIST_TAIL.match(text, end)
        if not m or not _letters_in(m, text) or _NEW_CLAUSE.match(text, m.end()):
            return found
        found.add(m.group("l").upper())
        end = m.end()


def _box_letters(text: str) -> set[str]:
    """Letters named by the boxes of ``text`` (``⟦C⟧``, ``⟦A, C⟧``, ``⟦(C) text⟧``)."""
    found = set()
    for m in _BOX_CONTENT.finditer(text):
        content = m.group(1).replace("*", "").strip()
        if re.fullmatch(r"\(?\s*[A-P]\s*\)?(?:\s*(?:,|and|or|&|/)\s*\(?\s*[A-P]\s*\)?)*\s*[.)]?", content):
            found |= set(re.findall(r"[A-P]", content))
            found |= _with_list_tail(text, re.findall(r"[A-P]", content)[0], m.end())
            continue
        first = re.match(r"\s*\(?\s*([A-P])\s*\)?(?![A-Za-z0-9])", content)
        if first and _is_letter(content, first.start(1), bare=True):
            found.add(first.group(1))  # "(C) Mitochondrion", "C. text"
    return found


_MIN_OPTION_CHARS = 6  # shorter options ("2", "True", "B") are not recognisable by their text


def _option_text(text: str, choices: list[str]) -> str | None:
    """The letter of the one option whose text appears in ``text``; when several do (one option
    may contain another), the unique longest of them; else None."""
    norm = f" {_norm(text)} "
    found = []  # (length of the option's text, letter)
    for letter, option in zip(LETTERS, choices, strict=False):  # at most 16 options (the references check)
        option = _norm(str(option))
        if len(option) >= _MIN_OPTION_CHARS and re.search(r"(?<![a-z0-9])" + re.escape(option) + r"(?![a-z0-9])",
                                                            norm):
            found.append((len(option), letter))
    found.sort(reverse=True)
    if found and (len(found) == 1 or found[0][0] > found[1][0]):
        return found[0][1]
    return None


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("$", "")
    return re.sub(r"\s+", " ", text).strip(" .,;:")


def _mask_options_naming_letters(text: str, choices: list[str]) -> str:
    """``text`` with the text of options that name letters themselves ("Both A and C", "either
    (a) or (b)") blanked, so that quoting such an option is not read as naming A and C."""
    for option in choices:
        option = str(option).replace("*", "").strip(" .")
        if len(option) >= _MIN_OPTION_CHARS and re.search(r"(?<![A-Za-z])\(?[A-Pa-p]\)?(?![A-Za-z])", option):
            words = [re.escape(w) for w in option.split()]
            text = re.sub(r"(?<![A-Za-z0-9])" + r"\s+".join(words) + r"(?![A-Za-z0-9])", " ", text,
                          flags=re.IGNORECASE)
    return text


def choice_letters(final: str, choices: list[str] | None = None) -> tuple[list[str], str] | None:
    """Letters the final part names as its answer (sorted) and how they were found; None if none."""
    marked = plain_text(final)
    lone = set(_BOLD_OPTION_LINE.findall(marked))
    text = _mask_options_naming_letters(re.sub(r"\*+|__", "", marked), choices or [])
    hedged, hedge_spans = set(), set()
    for pattern in _HEDGES:
        for m in pattern.finditer(text):
            named = _letters_in(m, text)
            hedged |= {x for x, _ in named}
            hedge_spans |= {at for _, at in named}
    paired = set()
    for pattern in _PAIRS:
        for m in pattern.finditer(text):
            ruled_out = _RULED_OUT_AFTER.match(text, m.end()) or _RULED_OUT_BEFORE.search(text[:m.start()])
            if len(named := _letters_in(m, text)) == 2 and not ruled_out:
                paired |= {x for x, _ in named}
    stated = set()
    for m in _STATEMENT.finditer(text):
        if _letters_in(m, text):
            stated |= _with_list_tail(text, m.group("l").upper(), m.end())
    boxed = _box_letters(text)
    lone |= set(_LONE_LINE.findall(text))
    forms = [("boxed", boxed), ("statement", stated)]
    if not boxed and not stated and choices and (contents := _BOX_CONTENT.findall(marked)):
        if hit := _option_text(contents[-1], choices):
            forms = [("boxed option text", {hit})]
    if not any(found for _, found in forms):
        forms = [("line", lone)]
        if not lone and choices and (hit := _option_text(final, choices)):
            forms = [("option text", {hit})]
        elif not lone:
            weak = [x for m in _WEAK.finditer(text) for x, at in _letters_in(m, text) if at not in hedge_spans]
            forms = [("parenthesised letter", set(weak[-1:]))]
    if paired - set().union(hedged, *(found for _, found in forms)):  # a pair that names another option
        hedged |= paired
    forms.append(("hedge", hedged))
    letters = set().union(*(found for _, found in forms))
    if not letters:
        return None
    return sorted(letters), " + ".join(how for how, found in forms if found)
