"""Verifier fidelity on the answer forms real traces take (issue 16), on a corpus of our own:
cut-off reasoning in every tag style, one reasoning/final split for filters and verifiers,
scientific notation, units, numeric gold columns. Each class prints its agreement."""

from __future__ import annotations

import json

import polars as pl
import pytest

from curation import math_reference
from curation.config import FilterConfig
from curation.stages.format_filters import LengthCounter, format_stage
from tests.conftest import read_jsonl
from verifiers.math import verify_many
from verifiers.reasoning import split_reasoning


def _styles(reasoning: str, final: str) -> dict[str, str]:
    """The same trace in each tag style, complete."""
    return {"think": f"<think>\n{reasoning}\n</think>\n\n{final}",
            "no_opener": f"{reasoning}\n</think>\n\n{final}",
            "thought": f"<|begin_of_thought|>\n{reasoning}\n<|end_of_thought|>\n\n<|begin_of_solution|>\n{final}\n"
                       "<|end_of_solution|>"}


def _cut(reasoning: str, final: str) -> dict[str, str]:
    """The same trace cut off by the token limit, in each tag style."""
    return {"think": f"<think>\n{reasoning} so the answer should be \\boxed{{{final}}} but let me check",
            "thought": f"<|begin_of_thought|>\n{reasoning} which gives {final}",
            "solution": f"<|begin_of_thought|>\n{reasoning}\n<|end_of_thought|>\n<|begin_of_solution|>\nThe value "
                        f"is \\boxed{{{final}}} and then",
            "second_think": f"<think>\n{reasoning}\n</think>\n\n<think>\nwait, {final} again"}


REASONINGS = [("Add 17 and 25 to get 42.", "42"), ("The sides are 3 and 4, so the hypotenuse is 5.", "5"),
              ("Half of 14 is 7.", "7"), ("There are 6 faces on a cube.", "6"), ("12 squared is 144.", "144"),
              ("Twice 9 is 18.", "18")]


def _cut_off_cases() -> list[tuple[str, str, bool]]:
    cases = []
    for reasoning, gold in REASONINGS:
        for text in _cut(reasoning, gold).values():
            cases.append((text, gold, False))  # the right number, but cut off: never a pass
        for text in _styles(reasoning, f"The answer is \\boxed{{{gold}}}.").values():
            cases.append((text, gold, True))
    return cases


def _agree(name: str, cases: list[tuple[str, str, bool | None]]) -> None:
    verdicts = verify_many([(r, g) for r, g, _ in cases], workers=2, timeout_s=10)
    wrong = [(r[-80:], g, want, v.passed, v.reason) for (r, g, want), v in zip(cases, verdicts, strict=True)
             if v.passed is not want]
    print(f"\n[fidelity] {name}: {len(cases) - len(wrong)}/{len(cases)} agree")
    assert len(cases) >= 20 and not wrong, wrong


def test_cut_off_reasoning_never_passes_in_any_tag_style():
    cases = _cut_off_cases()
    _agree("cut-off reasoning", cases)
    for text, _, want in cases:
        assert split_reasoning(text).complete is want


def test_format_filters_and_verifier_share_one_split():
    rows = []
    for reasoning, gold in REASONINGS:
        for style, text in _styles(reasoning, f"So \\boxed{{{gold}}}.").items():
            rows.append((style, text, None))
        for style, text in _cut(reasoning, gold).items():
            rows.append((style, text, "truncated_reasoning"))
    frame = pl.DataFrame({"response": [t for _, t, _ in rows], "finish_reason": ["stop"] * len(rows)})
    for allow in (False, True):  # --allow-no-think never lets a cut-off trace through
        result = format_stage(frame, FilterConfig(allow_no_think=allow), LengthCounter(None))
        reasons = dict(zip(result.rejected["response"], result.rejected["reason"], strict=True))
        got = [reasons.get(t if "begin_of" in t or t.startswith("<think>") else "<think>\n" + t) for _, t, _ in rows]
        agree = sum(g == want for g, (_, _, want) in zip(got, rows, strict=True))
        print(f"\n[fidelity] filters (allow_no_think={allow}): {agree}/{len(rows)} agree")
        assert agree == len(rows) >= 20
    kept = format_stage(frame, FilterConfig(), LengthCounter(None)).kept["response"].to_list()
    assert all(t.startswith("<think>\n") and "</think>" in t and "<|" not in t for t in kept)  # published as R1's
    plain = format_stage(frame, FilterConfig(normalize_reasoning=False), LengthCounter(None)).kept["response"]
    assert any("<|begin_of_thought|>" in t for t in plain)  # --keep-reasoning-tags keeps the source text


SCIENTIFIC = [  # (answer in the box, gold, expected)
    ("4.5 \\times 10^{33}", "4.5e33", True), ("4.5\\cdot 10^{33}", "4.5e33", True), ("4.5e33", "4.5e33", True),
    ("4.52 \\times 10^{33}", "4.5e33", True), ("4.6 \\times 10^{33}", "4.5e33", False),
    ("4.5 \\times 10^{32}", "4.5e33", False), ("1.2 \\times 10^{-5}", "1.2e-5", True),
    ("1.2\\cdot 10^{-5}", "1.2e-5", True), ("1.2 \\cdot 10^{-5}", "1.2E-05", True), ("1.2e-5", "1.2E-05", True),
    ("1.2E+05", "1.2e5", True), ("120000", "1.2e5", True), ("1.2\\times10^{5}", "120000", True),
    ("18e", "3e6", False), ("3e", "3e6", False), ("3 \\times 10^{6}", "3e6", True), ("3e6", "3 \\times 10^6", True),
    ("2.998 \\times 10^{8}", "3.0e8", True), ("2.9 \\times 10^{8}", "3.0e8", False), ("6.02e23", "6.022e23", False),
    ("6.022 \\times 10^{23}", "6.022e23", True), ("-1.6 \\times 10^{-19}", "-1.6e-19", True),
    ("1.6 \\times 10^{-19}", "-1.6e-19", False),
]
UNITS = [
    ("9.6 \\AA", "9.6", True), ("9.6 \\AA", "9.7", False), ("50 \\mu \\mathrm{m}", "50", True),
    ("50 \\mu m", "50 \\mu m", True), ("1.2 \\text{ arcsec}", "1.2", True), ("1.2^{\\prime\\prime}", "1.2", True),
    ("1.2^{\\prime\\prime}", "1.2 arcsec", True), ("3\\,\\mathrm{m/s}", "3", True),
    ("3\\,\\mathrm{m/s}", "3 m/s", True),
    ("3\\,\\mathrm{m/s}", "4", False), ("45^\\circ", "45", True), ("45^\\circ", "90", False), ("3 cm", "3 m", False),
    ("3 \\text{ m}", "3 m", True), ("12 \\text{ cm}", "12", True), ("2.5 \\mathrm{kg}", "2.5", True),
    ("2.5 \\mathrm{kg}", "2.5 g", False), ("1.5 \\times 10^{3} \\mathrm{J}", "1500", True),
    ("7.2 \\, \\mathrm{N}", "7.2 N", True), ("0.5 \\text{ mol}", "0.5", True), ("0.5 \\text{ mol}", "0.25", False),
    ("100 \\mathrm{Hz}", "100 Hz", True),
]


@pytest.mark.parametrize("name,cases", [("scientific notation", SCIENTIFIC), ("units", UNITS)])
def test_numbers_in_their_written_forms(name, cases):
    _agree(name, [(f"<think>\nwork\n</think>\n\nThe result is $\\boxed{{{a}}}$.", g, want) for a, g, want in cases])


NUMERIC_GOLDS = [3, 2.0, 2.5, 0.125, 4.5e33, 1e-05, -7, 144, 6.0, 0.1, 12345678, 3.14, 1.5e-19, 100.0, 7, 0.5,
                 -2.25, 42, 1000000, 9.81]


def test_numeric_gold_columns_are_accepted_and_verified():
    refs = [math_reference({"answer": g}) for g in NUMERIC_GOLDS]
    assert refs[:5] == ["3", "2", "2.5", "0.125", "4.5e33"]
    right = [(f"<think>\nok\n</think>\n\n\\boxed{{{ref}}}", ref, True) for ref in refs]
    wrong = [(f"<think>\nok\n</think>\n\n\\boxed{{{ref}1}}", ref, False) for ref in refs]
    _agree("numeric gold columns", right + wrong)
    from curation.records import Malformed

    for bad in ([4], {"a": 1}, True, float("nan")):
        with pytest.raises(Malformed):
            math_reference({"answer": bad})


def test_real_thought_style_traces_are_not_dropped_as_no_think(shared_data):
    rows = read_jsonl(shared_data / "traces/longcot_math500.jsonl")
    texts = [r["code"][0] for r in rows]
    frame = pl.DataFrame({"response": texts, "finish_reason": [None] * len(texts)})
    result = format_stage(frame, FilterConfig(max_length=10 ** 6), LengthCounter(None))
    reasons = dict(json.loads(json.dumps(result.rejected["reason"].value_counts().rows())))
    print(f"\n[fidelity] long-CoT traces: {result.kept.height} kept, rejected {reasons}")
    no_think = set(result.rejected.filter(pl.col("reason") == "no_think")["response"].to_list())
    tagged = [t for t in texts if "<|begin_of_thought|>" in t or "<|end_of_thought|>" in t]
    assert len(tagged) > 100 and not no_think & set(tagged)  # only traces without any tag lack reasoning
    cut = [t for t in texts if not split_reasoning(t).complete]
    verdicts = verify_many([(t, r["gt"]) for t, r in zip(texts, rows, strict=True) if t in cut], workers=2)
    assert all(v.passed is not True for v in verdicts)
