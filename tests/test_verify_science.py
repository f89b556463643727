"""Science multiple-choice verification on real MMLU-STEM and MMLU-Pro items."""

import re

import pytest

from tests.conftest import read_jsonl
from verifiers.science import LETTERS, verify

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


@pytest.mark.parametrize("final", [
    "The answer is A or C.", "\\boxed{A, C}", "Answer: B and D", "\\boxed{A}\n\nor maybe \\boxed{B, C}",
])
def test_two_different_letters_are_rejected(final):
    v = verify(f"<think>unsure</think>\n\n{final}", "A", choices=["w", "x", "y", "z"])
    assert (v.passed, v.reason) == (False, "ambiguous_answer")


def test_numeric_gold_goes_through_the_math_verifier():
    assert verify("<think>x</think> The value is \\boxed{0.5}", "1/2").passed is True
    assert verify("<think>x</think> no letter here", "B", choices=["p", "q"]).reason == "no_answer"
