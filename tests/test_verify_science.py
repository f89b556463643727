"""Science multiple-choice verification on real MMLU-STEM and MMLU-Pro items, and on our own
corpus of hedged and oddly written final answers (tests/data/science_hedged_cases.jsonl)."""

import json
import re
from pathlib import Path

import pytest

from tests.conftest import read_jsonl
from verifiers.science import LETTERS, verify

HEDGED_CASES = Path(__file__).parent / "data" / "science_hedged_cases.jsonl"

FORMS = [
    "<think>\nLet me weigh the options.\n</think>\n\nThe answer is $\\boxed{{{L}}}$.",
    "<think>\nchecking\n</think>\n\n**Answer:** {L}",
    "<think>\nchecking\n</think>\n\nAfter eliminating the others, I pick ({L}).",
    "<think>\nchecking\n</think>\n\nSo the answer is {L}.",
    "<think>\nchecking\n</think>\n\nThe correct option is:\n\n{L}.",
    "<think>\nI first thought the answer is (A), but no.\n</think>\n\nFinal answer: {L}",
    "<think>\nchecking\n</think>\n\n\\boxed{{\\text{{({L})}}}}",
]


def _items(shared_data):
    stem = read_jsonl(shared_data / "science/mmlu_stem.jsonl")
    pro = read_jsonl(shared_data / "science/mmlu_pro_300.jsonl")
    out = [(r["choices"], LETTERS[r["answer"]]) for r in stem]
    for r in pro:
        options = re.findall(r"^([A-J])\. (.*)$", r["question"], re.MULTILINE)
        out.append(([text for _, text in options] or None, r["answer"]))
    return out


def test_every_letter_right_in_every_form(shared_data):
    items = _items(shared_data)
    wrong = []
    for choices, gold in items:
        n = len(choices) if choices else 10
        other = LETTERS[(LETTERS.index(gold) + 1) % n]
        for form in FORMS:
            if verify(form.format(L=gold), gold, choices=choices).passed is not True:
                wrong.append((gold, form))
            if verify(form.format(L=other), gold, choices=choices).passed is not False:
                wrong.append((other, gold, form))
    assert wrong == []


def test_option_text_itself(shared_data):
    stem = read_jsonl(shared_data / "science/mmlu_stem.jsonl")
    checked = 0
    for r in stem:
        choices = [str(c) for c in r["choices"]]
        gold = LETTERS[r["answer"]]
        text = choices[r["answer"]]
        if len(text) < 12 or any(text.lower() in c.lower() for i, c in enumerate(choices) if i != r["answer"]):
            continue  # too short to be unmistakable, or contained in another option
        v = verify(f"<think>hmm</think>\n\nIt must be that {text}.", gold, choices=choices)
        assert v.passed is True, (text, v)
        checked += 1
    assert checked > 1000


def test_the_option_quoted_with_its_letter(shared_data):
    """Real option texts after their letter are not read as naming other options ("Both A and C",
    "either (a) or (b)", "could be ...")."""
    forms = ["The answer is ({L}) {t}.", "**Answer:** {L}. {t}", "Final answer: **{L}. {t}**",
             "\\boxed{{{L}}}\n\n{L}. {t} is the only consistent option."]
    wrong = []
    for choices, gold in _items(shared_data):
        if choices:
            for form in forms:
                final = form.format(L=gold, t=choices[LETTERS.index(gold)])
                if verify(f"<think>x</think>\n\n{final}", gold, choices=choices).passed is not True:
                    wrong.append((gold, final))
    assert wrong == []


def test_hedged_corpus_agrees():
    cases = [json.loads(line) for line in HEDGED_CASES.read_text().splitlines() if line.strip()]
    hedged = [c for c in cases if c["reason"] == "ambiguous_answer"]
    assert len(hedged) >= 20 and len(cases) - len(hedged) >= 20
    disagree = []
    for case in cases:
        v = verify(f"<think>\nweighing the options\n</think>\n\n{case['final']}", case["gold"], choices=case["choices"])
        if (v.passed, v.reason) != (case["passed"], case["reason"]):
            disagree.append((case["id"], case["note"], v.reason, v.detail))
    print(f"[science hedged] {len(cases) - len(disagree)}/{len(cases)} agree")
    assert disagree == []


@pytest.mark.parametrize("final", [
    "The answer is A or C.", "\\boxed{A, C}", "Answer: B and D", "\\boxed{A}\n\nor maybe \\boxed{B, C}",
])
def test_two_different_letters_are_rejected(final):
    v = verify(f"<think>unsure</think>\n\n{final}", "A", choices=["w", "x", "y", "z"])
    assert (v.passed, v.reason) == (False, "ambiguous_answer")


def test_numeric_gold_goes_through_the_math_verifier():
    assert verify("<think>x</think> The value is \\boxed{0.5}", "1/2").passed is True
    assert verify("<think>x</think> no letter here", "B", choices=["p", "q"]).reason == "no_answer"
