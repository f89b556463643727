"""LeetCode-style problems (``class Solution``, plain-data asserts, ListNode/TreeNode, a design
class): correct solutions pass, wrong ones do not, and no judgement runs the asserts in the
candidate's process (tests/data/leetcode_style.jsonl, written for this suite)."""

import json
from pathlib import Path

import pytest

from tests.conftest import sandbox_unavailable
from verifiers.code import judge, judge_many

needs_bwrap = pytest.mark.skipif(sandbox_unavailable() is not None, reason=str(sandbox_unavailable()))
ROWS = [json.loads(line) for line in (Path(__file__).parent / "data/leetcode_style.jsonl").open()]
IN_CANDIDATE = "asserts ran inside the sandbox"


def test_the_set_has_enough_problems_of_each_shape():
    assert len(ROWS) >= 50
    text = [json.dumps(r["tests"]) for r in ROWS]
    assert sum("list_node" in t for t in text) >= 5 and sum("tree_node" in t for t in text) >= 5


@needs_bwrap
def test_correct_pass_wrong_fail_and_no_asserts_run_in_the_candidates_process(capsys):
    good = judge_many([(r["correct"], r["tests"]) for r in ROWS])
    bad = judge_many([(r["wrong"], r["tests"]) for r in ROWS])
    verdicts = good + bad
    inside = sum(IN_CANDIDATE in json.loads(v.detail)["message"] for v in verdicts)
    with capsys.disabled():
        print(f"\nLeetCode-style set: {len(ROWS)} problems, {len(verdicts)} judgements; asserts run in the "
              f"candidate's process: {inside}/{len(verdicts)} ({inside / len(verdicts):.0%}); "
              f"correct AC {sum(v.passed is True for v in good)}/{len(good)}, "
              f"wrong rejected {sum(v.passed is False for v in bad)}/{len(bad)}")
    assert [(r["id"], v.reason, v.detail[:300]) for r, v in zip(ROWS, good, strict=True) if not v.passed] == []
    assert [(r["id"], v.reason) for r, v in zip(ROWS, bad, strict=True) if v.passed is not False] == []
    assert inside == 0


@needs_bwrap
def test_a_list_returned_as_a_tree_or_a_cycle_is_not_accepted():
    tests = {"test_list": ["assert is_same_list(Solution().f(head=list_node([1, 2])), list_node([1, 2]))"]}
    cyclic = "class Solution:\n    def f(self, head):\n        head.next.next = head\n        return head\n"
    assert judge(cyclic, tests).passed is False
    tree = "class Solution:\n    def f(self, head):\n        return TreeNode(1, None, TreeNode(2))\n"
    assert judge(tree, tests).passed is False


@needs_bwrap
def test_what_the_protocol_cannot_carry_is_never_a_plain_ac():
    # a lambda argument cannot cross as plain data: the asserts run in the sandbox, weakly
    v = judge("def apply(f, x):\n    return f(x)\n", {"test_list": ["assert apply(lambda y: y + 1, 1) == 2"]})
    assert v.reason == "AC_weak" and v.passed is None
