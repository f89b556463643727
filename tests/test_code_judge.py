"""The code judge on real problems: references pass, wrong programs do not; test formats; extraction."""

import gzip
import json

import pytest

from tests.conftest import read_jsonl, sandbox_unavailable
from verifiers.code import extract_code, extract_code_block, judge, judge_many

needs_bwrap = pytest.mark.skipif(sandbox_unavailable() is not None, reason=str(sandbox_unavailable()))


def test_extract_code_takes_the_last_block_of_the_final_part():
    response = ("<think>\n```python\nprint('draft')\n```\n</think>\nHere:\n```python\nprint(1)\n```\nand\n"
                "```cpp\nint main(){}\n```\n")
    assert extract_code_block(response) == ("int main(){}\n", "cpp")
    assert extract_code("<think>```python\nx=1\n```</think> no code") is None
    assert extract_code("no think, just\n```\nprint(2)\n```") == "print(2)\n"


@needs_bwrap
def test_humaneval_canonical_solutions_all_pass(shared_data):
    rows = [json.loads(line) for line in gzip.open(shared_data / "code/HumanEval.jsonl.gz", "rt")]
    verdicts = judge_many([(r["prompt"] + r["canonical_solution"], {"test": r["test"], "entry_point":
                                                                    r["entry_point"]}) for r in rows])
    failed = [(r["task_id"], v.reason, v.detail[:200]) for r, v in zip(rows, verdicts, strict=True) if not v.passed]
    assert failed == []


@needs_bwrap
def test_mbpp_references_all_pass(shared_data):
    rows = read_jsonl(shared_data / "code/mbpp.jsonl")
    verdicts = judge_many([(r["code"], {"test_list": r["test_list"], "test_setup_code": r["test_setup_code"]})
                           for r in rows])
    failed = [(r["task_id"], v.reason, v.detail[:200]) for r, v in zip(rows, verdicts, strict=True) if not v.passed]
    assert failed == []


@needs_bwrap
def test_taco_solutions_pass_and_wrong_solutions_do_not(shared_data):
    rows = read_jsonl(shared_data / "code/taco_stdin_dev.jsonl")
    tests = [{"inputs": r["inputs"], "outputs": r["outputs"]} for r in rows]
    good = judge_many([(r["solution"], t) for r, t in zip(rows, tests, strict=True)])
    bad = judge_many([(r["wrong_solution"], t) for r, t in zip(rows, tests, strict=True)])
    assert [v.reason for v in good if not v.passed] == []
    assert all(v.passed is False for v in bad)


@needs_bwrap
def test_verl_sandbox_cases(shared_data):
    statuses = {"success": "AC", "wrong_answer": "WA", "runtime_error": "RE", "timeout": "TLE",
                "compile_error": "RE"}  # the "compile error" case is a NameError when run as Python
    from verifiers.code import Limits

    for case in read_jsonl(shared_data / "code/verl_sandbox_cases.jsonl"):
        v = judge(case["code"], {"inputs": case["inputs"], "outputs": case["outputs"]}, limits=Limits(wall_s=5))
        if "expected_pass_fraction" in case:
            assert v.passed is (case["expected_pass_fraction"] == 1), (case["case"], v)
        else:
            assert v.reason == statuses[case["expected_status"].split()[0]], (case["case"], v)


@needs_bwrap
@pytest.mark.parametrize("code,tests,reason", [
    ("print(input())", {"inputs": ["a b"], "outputs": ["a b c"]}, "WA"),  # a prefix is not a pass
    ("print('a b c d')", {"inputs": [""], "outputs": ["a b c"]}, "WA"),
    ("print(' a\\tb  ')", {"inputs": [""], "outputs": ["a b"]}, "AC"),  # whitespace tokens
    ("print(0.30000001)", {"inputs": [""], "outputs": ["0.3"], "float_tol": 1e-6}, "AC"),
    ("print(0.31)", {"inputs": [""], "outputs": ["0.3"], "float_tol": 1e-6}, "WA"),
    ("def f(x):\n    return (x, x)", {"fn_name": "f", "inputs": [[1]], "outputs": [[1, 1]]}, "AC"),
    ("def f(x):\n    return x", {"fn_name": "f", "inputs": ["[1, 2]"], "outputs": ["[1, 2]"]}, "AC"),
    ("def f(a, b):\n    return a + b", {"fn_name": "f", "inputs": ["3\n4"], "outputs": ["7"]}, "AC"),
    ("class Solution:\n    def twice(self, x):\n        return 2 * x", {"fn_name": "twice", "inputs": [[4]],
                                                                      "outputs": [8]}, "AC"),
    ("def f(x):\n    raise ValueError('no')", {"fn_name": "f", "inputs": [[1]], "outputs": [1]}, "RE"),
    ("def f(x):\n    return True", {"fn_name": "f", "inputs": [[1]], "outputs": [1]}, "WA"),  # bool is not 1
])
def test_formats_and_comparisons(code, tests, reason):
    assert judge(code, tests).reason == reason


@needs_bwrap
def test_cpp_is_compiled_in_the_sandbox():
    ok = "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a*b<<std::endl;}\n"
    assert judge(ok, {"inputs": ["6 7"], "outputs": ["42"]}, language="cpp").reason == "AC"
    assert judge("int main( {", {"inputs": [""], "outputs": [""]}, language="cpp").reason == "CE"


def test_bad_tests_are_not_a_wrong_answer():
    v = judge("print(1)", {"inputs": ["1"], "outputs": []})
    assert v.passed is None and v.reason == "bad_tests"
