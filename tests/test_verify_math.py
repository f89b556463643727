import time

import pytest

from tests.conftest import read_jsonl
from verifiers import Verdict
from verifiers.math import final_answer, split_final, verify, verify_many


@pytest.mark.parametrize("response,gold,passed,reason", [
    ("<think>x</think> so \\boxed{\\frac{1}{2}}", "0.5", True, "correct"),
    ("<think>x</think> \\boxed{\\dfrac12}", "\\frac{1}{2}", True, "correct"),
    ("</think> \\boxed{025}", "25", True, "correct"),
    ("</think> \\boxed{x^2+2x+1}", "(x+1)^2", True, "correct"),
    ("</think> \\boxed{2\\sqrt{3}}", "\\sqrt{12}", True, "correct"),
    ("</think> \\boxed{3}", "4", False, "wrong_answer"),
    ("</think> \\boxed{\\frac{1}{3}}", "\\frac{1}{2}", False, "wrong_answer"),
    ("</think> I will not say.", "4", False, "no_answer"),
    ("</think>", "4", False, "no_answer"),
    ("</think> \\boxed{}", "4", False, "no_answer"),
    ("</think> \\boxed{5}", "\\frac{5}{", None, "unparseable_gold"),
    ("</think> \\boxed{5}", "", None, "unparseable_gold"),
    ("<think>the answer is \\boxed{4}</think> final: \\boxed{5}", "5", True, "correct"),
    ("<think>so \\boxed{5}</think> final: \\boxed{4}", "5", False, "wrong_answer"),
    ("</think> \\boxed{(1, 2)} and \\boxed{(2, 1)}", "(2,1),(1,2)", True, "correct"),
])
def test_verify_cases(response, gold, passed, reason):
    v = verify(response, gold, timeout_s=10)
    assert isinstance(v, Verdict)
    assert (v.passed, v.reason) == (passed, reason), v


def test_final_part_split_handles_missing_open_tag_and_other_tags():
    assert split_final("reasoning</think>answer") == ("reasoning", "answer")
    assert split_final("no think at all") == (None, "no think at all")
    r, f = split_final("<|begin_of_thought|>r<|end_of_thought|><|begin_of_solution|>\\boxed{3}<|end_of_solution|>")
    assert final_answer("<|begin_of_thought|>r<|end_of_thought|>\\boxed{3}") == "3"
    assert "\\boxed{3}" in f


@pytest.mark.parametrize("pred", ["9^{9^{9^{9}}}", "+".join(["x^{2}"] * 20000)])
def test_pathological_answers_time_out_within_the_limit(pred):
    t0 = time.monotonic()
    v = verify("</think> \\boxed{" + pred + "}", "4", timeout_s=2)
    elapsed = time.monotonic() - t0
    assert (v.passed, v.reason) == (None, "timeout")
    assert elapsed < 2 + 3, f"took {elapsed:.1f}s for a 2s limit"


def test_timeout_does_not_poison_other_items():
    pairs = [("</think> \\boxed{9^{9^{9^{9}}}}", "4")] + [("</think> \\boxed{x+1}", "1+x")] * 3
    verdicts = verify_many(pairs, workers=2, timeout_s=2)
    assert verdicts[0].reason == "timeout"
    assert all(v.passed is True for v in verdicts[1:])


def test_verify_many_keeps_order_and_dedups():
    pairs = [(f"</think> \\boxed{{{i % 3}}}", str(i % 2)) for i in range(30)]
    verdicts = verify_many(pairs, workers=2)
    assert [v.passed for v in verdicts] == [(i % 3) == (i % 2) for i in range(30)]


def test_grader_cases_agree_at_least_as_well_as_math_verify_defaults(shared_data, capsys):
    from math_verify import parse
    from math_verify import verify as mv_verify

    rows = read_jsonl(shared_data / "grader/math_verify_cases.jsonl")
    ours = verify_many([(r["pred"], r["gold"]) for r in rows], timeout_s=10)
    base = [mv_verify(parse(r["gold"]), parse(r["pred"])) for r in rows]
    ours_ok = sum((v.passed is True) == bool(r["expected"]) for v, r in zip(ours, rows, strict=True))
    base_ok = sum(b == bool(r["expected"]) for b, r in zip(base, rows, strict=True))
    with capsys.disabled():
        print(f"\n[grader cases] verify agrees with expected on {ours_ok}/{len(rows)}; "
              f"math-verify defaults on {base_ok}/{len(rows)}")
    assert ours_ok >= base_ok


def test_two_stage_latex_parsing_gives_the_same_results_as_plain_ll(shared_data):
    """SLL-first parsing (verifiers/math/two_stage.py) must not change a single parse."""
    import sympy
    from latex2sympy2_extended.latex2sympy2 import latex2sympy

    from verifiers.math import two_stage
    from verifiers.math.equivalence import _WARMUP

    texts = list(_WARMUP) + ["\\frac{1}{", "x = = 2", "\\sqrt", "(1, 2]", "a, b; c", "\\begin{pmatrix}1"]
    for row in read_jsonl(shared_data / "grader/math_verify_cases.jsonl")[:120]:
        texts += [row["gold"].strip("$"), row["pred"].strip("$")[-200:]]

    def parse_all() -> list[str]:
        out = []
        for text in texts:
            try:
                out.append(sympy.srepr(latex2sympy(text)))
            except Exception as exc:  # noqa: BLE001 - a failure must fail the same way
                out.append(f"error {type(exc).__name__}")
        return out

    was_enabled = "original" in two_stage._state
    try:
        two_stage.disable()
        plain = parse_all()
        assert two_stage.enable()
        fast = parse_all()
    finally:
        if not was_enabled:
            two_stage.disable()
    assert sum(not p.startswith("error") for p in plain) > len(texts) // 2  # the corpus mostly parses
    assert fast == plain
