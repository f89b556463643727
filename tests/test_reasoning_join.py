"""How the openai client puts back a reasoning that the server split out of the answer (vLLM's and
SGLang's reasoning parsers, hosted R1 APIs); tests/test_vllm_server.py checks it against vLLM's server."""

from curation.teachers.openai_client import join_reasoning, parse_body


def test_a_split_reasoning_goes_back_inside_think():
    assert join_reasoning("\n\nThe answer is 7.", "Add.\n", "stop") == "<think>\nAdd.\n</think>\n\nThe answer is 7."
    assert join_reasoning("<think>\nAdd.\n</think>\n\n7", None, "stop") == "<think>\nAdd.\n</think>\n\n7"


def test_a_reasoning_cut_off_by_max_tokens_stays_an_open_block():
    assert join_reasoning(None, "Hmm wait so", "length") == "<think>\nHmm wait so"
    assert join_reasoning("", "Hmm wait so", "length") == "<think>\nHmm wait so"
    # stopped (end of turn) without an answer part: closed, with nothing after it to verify
    assert join_reasoning(None, "Hmm.", "stop") == "<think>\nHmm.\n</think>\n\n"
    body = {"choices": [{"message": {"content": None, "reasoning": "Hmm wait"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 40}}
    assert parse_body(body, "chat") == ("<think>\nHmm wait", "length", 3, 40)
