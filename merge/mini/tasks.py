"""Three synthetic domains a tiny model can learn, in the paper's format, with a noisy teacher.

Each ``Task`` makes problems of a level from a seeded ``random.Random`` and writes, for a problem,
a right teacher trace (reasoning inside ``<think>``, then the answer as its domain's verifier reads
it) or a wrong one (a plausible slip, which the verifier rejects); the sections below say what each
one asks and how it slips. The slips are the teacher's habits rather than noise (a sum with every
carry forgotten, one misconception per fact, one of a function task's two usual bugs), so a
student distilled on unverified traces learns them and verification is what removes them. A
problem is a dict in the row form ``curate DOMAIN --source`` and ``evaluate --benchmark-file``
read: ``problem`` plus the domain's reference fields (``answer``; ``tests``; ``choices`` and
``answer``); ``spec`` holds what the traces are written from (never written to a file).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# -- math: multi-digit addition; the trace adds column by column with carries and answers \boxed{N}
#    (the math verifier). Slip: every carry forgotten (a sum without one: a column added wrong).

COLUMNS = ["ones", "tens", "hundreds", "thousands", "ten-thousands", "hundred-thousands"]


def math_problem(rng: random.Random, level: int) -> dict:
    """``a + b``, each operand of 2 to ``level`` digits."""
    a, b = (rng.randint(10 ** (n - 1), 10**n - 1) for n in (rng.randint(2, level), rng.randint(2, level)))
    return {"problem": f"Compute {a} + {b}.", "answer": str(a + b), "spec": (a, b)}


def math_trace(spec: tuple[int, int], rng: random.Random, wrong: bool) -> str:
    """The column-by-column trace of ``a + b``. A wrong one forgets every carry, the teacher's one
    habitual slip (a sum with no carry slips instead by one in a column, and goes on from there)."""
    a, b = spec
    xs, ys = str(a)[::-1], str(b)[::-1]
    width = max(len(xs), len(ys))
    cols = [(int(xs[i]) if i < len(xs) else 0, int(ys[i]) if i < len(ys) else 0) for i in range(width)]
    carries = any(x + y >= 10 for x, y in cols)  # the first carry comes from a column of two digits alone
    forget = wrong and carries
    at = rng.randrange(width) if wrong and not carries else -1
    lines, written, carry = [f"{a} + {b}"], [], 0
    for i, (x, y) in enumerate(cols):
        s = x + y + carry
        if i == at:
            s = s + 1 if s == 0 or rng.random() < 0.5 else s - 1
        new_carry = 0 if forget else s // 10
        lines.append(f"{COLUMNS[i]} {x}+{y}+{carry}={s} write {s % 10} carry {new_carry}")
        written.append(str(s % 10))
        carry = new_carry
    if carry:
        written.append(str(carry))
    result = "".join(reversed(written)).lstrip("0") or "0"
    lines.append(f"result {result}")
    return "<think>\n" + "\n".join(lines) + "\n</think>\n\nThe answer is \\boxed{" + result + "}."


# -- code: small function-writing tasks of a few kinds; the answer is a ```python block judged by
#    calling the function on tests ({"fn_name", "inputs", "outputs"}, the code judge's call form).
#    Slips: a comparison, an operator or a constant that the tests catch.

@dataclass(frozen=True)
class CodeKind:
    """One kind of function task: how it is asked, the body that solves it, wrong bodies."""

    ask: str  # with {p} (the parameter) and {k}
    body: str  # the returned expression, with {p} and {k}
    slips: tuple[str, ...]  # wrong expressions
    arg: str  # int, list or str: what the tests pass
    k: tuple[int, int]  # the range of the constant


CODE_KINDS = (
    CodeKind("returns {p} multiplied by {k}, plus 1", "{p} * {k} + 1", ("{p} * {k} - 1", "{p} * ({k} + 1)"),
             "int", (2, 9)),
    CodeKind("returns the sum of the numbers in {p} that are greater than {k}", "sum(v for v in {p} if v > {k})",
             ("sum(v for v in {p} if v >= {k})", "sum(v for v in {p} if v < {k})"), "list", (1, 9)),
    CodeKind("returns the string {p} repeated {k} times", "{p} * {k}", ("{p} * ({k} + 1)", "{p} * ({k} - 1)"),
             "str", (2, 5)),
    CodeKind("returns how many numbers in {p} are equal to {k}", "{p}.count({k})", ("len({p}) - {p}.count({k})",
             "{p}.count({k} + 1)"), "list", (1, 9)),
    CodeKind("returns the largest number in {p} minus {k}", "max({p}) - {k}", ("min({p}) - {k}", "max({p}) + {k}"),
             "list", (1, 9)),
    CodeKind("returns True when {p} is divisible by {k}, else False", "{p} % {k} == 0",
             ("{p} % {k} != 0", "{p} // {k} == 0"), "int", (2, 9)),
    CodeKind("returns the list {p} with each number multiplied by {k}", "[v * {k} for v in {p}]",
             ("[v + {k} for v in {p}]", "[v * {k} for v in {p}][1:]"), "list", (2, 9)),
    CodeKind("returns the first {k} characters of {p}", "{p}[:{k}]", ("{p}[{k}:]", "{p}[:{k} + 1]"), "str", (1, 5)),
)
FUNCTION_NAMES = ("solve", "compute", "transform", "answer", "calc", "result", "process", "evaluate")
PARAMS = {"int": ("x", "n", "num", "value"), "list": ("xs", "nums", "values", "items"),
          "str": ("s", "text", "word", "name")}
WORDS = ("apple", "banana", "cherry", "delta", "echo", "falcon", "garden", "harbor", "island", "jungle")


def _arg(rng: random.Random, kind: str, k: int):
    if kind == "int":
        return rng.randint(0, 99) if rng.random() < 0.7 else k * rng.randint(0, 12)
    if kind == "list":
        return [rng.choice((k, k + 1, rng.randint(0, 12))) for _ in range(rng.randint(3, 7))]
    return rng.choice(WORDS)


def _call(name: str, param: str, body: str, arg):
    """What the function with ``body`` returns for ``arg`` (our own template code, run here to
    write the tests' expected outputs)."""
    scope: dict = {}
    exec(f"def {name}({param}):\n    return {body}\n", scope)  # noqa: S102 - the toolkit's own templates
    return scope[name](arg)


def code_problem(rng: random.Random, level: int) -> dict:
    """A function task of one of the first ``level`` kinds, with 6 tests that tell every slip
    from the right body."""
    kind = CODE_KINDS[rng.randrange(min(level, len(CODE_KINDS)))]
    while True:  # tests drawn until each slip fails one (a few draws; every kind's slips can fail)
        k, name, param = rng.randint(*kind.k), rng.choice(FUNCTION_NAMES), rng.choice(PARAMS[kind.arg])
        body = kind.body.format(p=param, k=k)
        slips = [s.format(p=param, k=k) for s in kind.slips]
        args = [_arg(rng, kind.arg, k) for _ in range(6)]
        outputs = [_call(name, param, body, a) for a in args]
        if all(any(_call(name, param, s, a) != o for a, o in zip(args, outputs, strict=True)) for s in slips):
            break
    problem = f"Write a Python function {name}({param}) that {kind.ask.format(p=param, k=k)}."
    tests = {"fn_name": name, "inputs": [[a] for a in args], "outputs": outputs}
    return {"problem": problem, "tests": tests, "spec": (name, param, body, tuple(slips))}


def code_trace(spec: tuple, rng: random.Random, wrong: bool) -> str:
    name, param, body, slips = spec
    expr = rng.choice(slips) if wrong else body
    return (f"<think>\nThe function {name} takes {param} and returns {expr}.\n</think>\n\n"
            f"```python\ndef {name}({param}):\n    return {expr}\n```")


# -- science: multiple choice over a fixed table of the first 40 elements (category, block, period;
#    each kind of question lists its options in a fixed order, so the skill is recall); the answer
#    is \boxed{LETTER} (the science verifier). Slip: the teacher's misconception of the fact, the
#    same wrong value every time.

# name, symbol, category, block, period of the elements 1 to 40
ELEMENTS = """hydrogen H nonmetal s 1|helium He noble-gas s 1|lithium Li metal s 2|beryllium Be metal s 2
|boron B metalloid p 2|carbon C nonmetal p 2|nitrogen N nonmetal p 2|oxygen O nonmetal p 2|fluorine F nonmetal p 2
|neon Ne noble-gas p 2|sodium Na metal s 3|magnesium Mg metal s 3|aluminium Al metal p 3|silicon Si metalloid p 3
|phosphorus P nonmetal p 3|sulfur S nonmetal p 3|chlorine Cl nonmetal p 3|argon Ar noble-gas p 3|potassium K metal s 4
|calcium Ca metal s 4|scandium Sc metal d 4|titanium Ti metal d 4|vanadium V metal d 4|chromium Cr metal d 4
|manganese Mn metal d 4|iron Fe metal d 4|cobalt Co metal d 4|nickel Ni metal d 4|copper Cu metal d 4|zinc Zn metal d 4
|gallium Ga metal p 4|germanium Ge metalloid p 4|arsenic As metalloid p 4|selenium Se nonmetal p 4
|bromine Br nonmetal p 4|krypton Kr noble-gas p 4|rubidium Rb metal s 5|strontium Sr metal s 5|yttrium Y metal d 5
|zirconium Zr metal d 5"""
TABLE = [tuple(e.split()) for e in ELEMENTS.replace("\n", "").split("|")]  # (name, symbol, category, block, period)
LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class FactKind:
    """Questions about one column of the table: its options (always in this order), how it is asked
    and how the trace states the fact."""

    column: int
    options: tuple[str, ...]
    asks: tuple[str, ...]  # with {subject}
    says: str  # with {subject} and {value}


SCIENCE_KINDS = (
    FactKind(2, ("metal", "nonmetal", "metalloid", "noble gas"),
             ("Which best describes {subject}?", "What kind of element is {subject}?",
              "{Subject} is classified as which of these?", "Which of these is {subject}?",
              "What type of element is {subject}?", "How is {subject} classified?"), "{Subject} is a {value}."),
    FactKind(3, ("s-block", "p-block", "d-block"),
             ("In which block of the periodic table is {subject}?", "Which block does {subject} belong to?",
              "{Subject} lies in which block?", "Which block contains {subject}?",
              "{Subject} is found in which block?", "Name the block of {subject}."), "{Subject} is in the {value}."),
    FactKind(4, ("period 1", "period 2", "period 3", "period 4", "period 5"),
             ("In which period of the periodic table is {subject}?", "Which period does {subject} belong to?",
              "{Subject} lies in which period?", "Which period contains {subject}?",
              "{Subject} is found in which period?", "Name the period of {subject}."), "{Subject} is in {value}."),
)


def _value(kind: FactKind, row: tuple) -> str:
    raw = row[kind.column]
    return {"noble-gas": "noble gas", "s": "s-block", "p": "p-block", "d": "d-block"}.get(
        raw, f"period {raw}" if kind.column == 4 else raw)


def science_problem(rng: random.Random, level: int) -> dict:
    """A question about one of the first ``level`` elements (the answer's option drawn first, so
    every option is as likely); its subject named or given by its symbol."""
    kind = rng.choice(SCIENCE_KINDS)
    facts = TABLE[:level]
    options = [o for o in kind.options if any(_value(kind, r) == o for r in facts)]
    answer = rng.choice(options)
    row = rng.choice([i for i, r in enumerate(facts) if _value(kind, r) == answer])
    named = rng.random() < 0.5
    subject = facts[row][0] if named else f"the element with symbol {facts[row][1]}"
    ask = rng.choice(kind.asks)
    problem = ask.format(subject=subject, Subject=subject[0].upper() + subject[1:])
    return {"problem": problem, "choices": list(kind.options), "answer": LETTERS[kind.options.index(answer)],
            "spec": (SCIENCE_KINDS.index(kind), row, subject)}


def science_trace(spec: tuple, rng: random.Random, wrong: bool) -> str:
    """The fact stated, then its option; a wrong trace states another value of the column."""
    k, row, subject = spec
    kind = SCIENCE_KINDS[k]
    value = _value(kind, TABLE[row])
    if wrong:  # the teacher's misconception about this fact: always the same wrong value
        others = [o for o in kind.options if o != value]
        value = others[(row * 7 + k) % len(others)]
    letter = LETTERS[kind.options.index(value)]
    name = TABLE[row][0]
    hop = "" if subject == name else f"{subject[0].upper() + subject[1:]} is {name}.\n"  # the symbol's element first
    said = kind.says.format(subject=name, Subject=name[0].upper() + name[1:], value=value)
    return f"<think>\n{hop}{said}\nThat is option {letter}.\n</think>\n\nThe answer is \\boxed{{{letter}}}."


@dataclass(frozen=True)
class Task:
    """A synthetic domain: the registered domain it belongs to, problems of a level, and traces."""

    domain: str
    problem: Callable[[random.Random, int], dict]
    trace: Callable[[tuple, random.Random, bool], str]


TASKS = {t.domain: t for t in (Task("math", math_problem, math_trace), Task("code", code_problem, code_trace),
                               Task("science", science_problem, science_trace))}
