import polars as pl
import pytest

from curation.config import FilterConfig
from curation.stages.format_filters import LengthCounter, format_stage, normalize_think, repetition_detail
from tests.conftest import read_jsonl

GOOD = "<think>\nreasoning here\n</think>\n\nThe answer is \\boxed{4}."


def run(responses, finish=None, **cfg):
    frame = pl.DataFrame({"response": responses, "finish_reason": finish or [None] * len(responses)},
                         schema={"response": pl.String, "finish_reason": pl.String})
    result = format_stage(frame, FilterConfig(**cfg), LengthCounter(None))
    rejected = dict(zip(result.rejected["response"].to_list(), result.rejected["reason"].to_list(), strict=True))
    return [rejected.get(normalize_think(r) if r else r) for r in responses], result


@pytest.mark.parametrize("response,finish,reason", [
    (GOOD, "stop", None),
    ("reasoning here\n</think>\n\\boxed{4}", None, None),  # R1 drops the opening tag
    ("<think>\nreasoning that never ends", "length", "truncated"),
    (GOOD, "length", "truncated"),
    (GOOD, "content_filter", "bad_finish_reason"),
    ("<think>\nreasoning that never ends", None, "truncated_reasoning"),  # issue 16: its own code
    ("The answer is \\boxed{4}.", None, "no_think"),
    ("<think>r</think>\n   ", None, "empty_final"),
    ("<think>" + "x" * 20000 + "</think> ok", None, "too_long"),
    ("<think>" + "we check it again and again to be sure that nothing at all is wrong with it " * 40
     + "</think> ok", None, "degenerate_repetition"),
    ("   ", None, "empty_response"),
])
def test_each_drop_has_its_reason(response, finish, reason):
    reasons, _ = run([response], [finish], max_length=10000)
    assert reasons == [reason]


def test_missing_open_tag_is_normalised():
    _, result = run(["reasoning\n</think>\nanswer \\boxed{1}"])
    assert result.kept["response"][0].startswith("<think>\nreasoning")


def test_allow_no_think_accepts_plain_chain_of_thought():
    reasons, _ = run(["Step 1 ... so \\boxed{4}."], allow_no_think=True)
    assert reasons == [None]


def test_require_stop_can_be_turned_off():
    reasons, _ = run([GOOD], ["length"], require_stop=False)
    assert reasons == [None]


def test_repetition_check_leaves_real_reasoning_alone(shared_data):

    rows = read_jsonl(shared_data / "traces/math_cot_100x8.jsonl")
    responses = [c for r in rows for c in r["code"]]
    assert len(responses) == 800
    assert [r for r in responses if repetition_detail(r)] == []


def test_repetition_check_catches_real_loops(shared_data):

    rows = read_jsonl(shared_data / "traces/longcot_math500.jsonl")
    loop = next(r["code"][0] for r in rows if "e^{i\\pi/6 + i2\\pi/3} = e^{i\\pi/6 + i2\\pi/3} = e^{i" in r["code"][0])
    assert repetition_detail(loop)
