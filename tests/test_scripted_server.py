"""The scripted OpenAI-compatible server: deterministic heavy-tailed latency, n choices, streaming,
the model check, OpenAI-shaped errors and the request log. Loopback only."""

import asyncio
import json
import statistics
import time
import urllib.error
import urllib.request

import pytest
from conftest import read_jsonl

from curation.dry_run.scripted_server import Latency, ServerProcess, main

ANSWERS = [f"<think>\nTry {k}.\n</think>\n\nSo the answer is \\boxed{{{k}}}." for k in range(5)]
SCRIPT = {"rules": [{"match": "count", "answers": ANSWERS}, {"match": "bad", "status": 400},
                    {"match": "cut", "answers": ANSWERS, "finish_reason": "length"}]}


@pytest.fixture(scope="module")
def servers():
    """The scripted server twice: answers as one text (False) and with reasoning_content apart (True)."""
    with ServerProcess(SCRIPT) as plain, ServerProcess(SCRIPT, split_reasoning=True) as split:
        yield {False: plain, True: split}


def post(srv: ServerProcess, path: str, body: dict) -> tuple[int, str, bytes]:
    req = urllib.request.Request(f"{srv.base_url}/{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def ask(srv: ServerProcess, chat: bool, prompt: str, **fields) -> tuple[int, str, bytes]:
    body = {"model": "scripted", **({"messages": [{"role": "user", "content": prompt}]} if chat else
                                    {"prompt": prompt}), **fields}
    return post(srv, "chat/completions" if chat else "completions", body)


def answer(srv: ServerProcess, chat: bool, prompt: str, **fields) -> dict:
    code, _, raw = ask(srv, chat, prompt, **fields)
    assert code == 200, raw
    return json.loads(raw)


def events(raw: bytes) -> list:
    """The SSE ``data:`` payloads, parsed, with ``[DONE]`` kept as a string."""
    blocks = raw.decode().split("\n\n")
    assert blocks[-1] == "" and all(b.startswith("data: ") for b in blocks[:-1]), raw[:200]
    return [b[6:] if b[6:] == "[DONE]" else json.loads(b[6:]) for b in blocks[:-1]]


def test_lognormal_draws_are_a_hash_of_the_request_with_the_configured_median_and_cap():
    lat = Latency.parse("lognormal:200,1.0,3000")
    assert lat == Latency(0.2, 1.0, 3.0)
    assert lat.draw(7, "p", 1) == Latency.parse("lognormal:200,1.0,3000").draw(7, "p", 1)
    assert lat.draw(7, "p", 1) != lat.draw(7, "p", 2) != lat.draw(8, "p", 2)
    draws = [lat.draw(s, f"prompt {s % 17}", 1) for s in range(4000)]
    assert statistics.median(draws) == pytest.approx(0.2, rel=0.2)
    assert max(draws) == 3.0 and min(draws) > 0  # sigma 1 reaches the 15x cap a few times in 4000
    assert Latency.parse("fixed:50").draw(1, "x", 1) == 0.05
    for bad in ("lognormal:200,1.0", "lognormal:0,1,10", "gamma:1,2,3", "fixed:x", "200"):
        with pytest.raises(ValueError, match="expected fixed:MS or lognormal:MEDIAN_MS,SIGMA,CAP_MS"):
            Latency.parse(bad)
    with pytest.raises(ValueError):
        ServerProcess(latency="lognormal:200")
    with pytest.raises(SystemExit) as exit_:
        main(["--latency", "lognormal:1,2"])
    assert exit_.value.code == 2


async def _ask_many(base_url: str, prompts: list[tuple[str, int]]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async def one(prompt, seed):
            body = {"model": "scripted", "prompt": prompt, "seed": seed}
            async with session.post(f"{base_url}/completions", json=body) as resp:
                assert resp.status == 200
                await resp.read()

        await asyncio.gather(*(one(p, s) for p, s in prompts))


def test_served_lognormal_latencies_repeat_across_runs_and_are_logged(tmp_path):
    prompts = [(f"problem {i}", i) for i in range(300)]
    logged = []
    for run in range(2):
        log = tmp_path / f"run{run}.jsonl"
        with ServerProcess(latency="lognormal:5,1.0,40", log=str(log)) as srv:
            asyncio.run(_ask_many(srv.base_url, prompts))
        logged.append({(r["prompt"], r["seed"]): r["latency_s"] for r in read_jsonl(log)})
    assert logged[0] == logged[1] and len(logged[0]) == 300  # the same requests wait the same
    assert statistics.median(logged[0].values()) == pytest.approx(0.005, rel=0.2)
    assert max(logged[0].values()) <= 0.040
    with ServerProcess(latency="lognormal:150,0,1000") as srv:  # sigma 0: every request waits the median
        t0 = time.perf_counter()
        answer(srv, False, "slow")
        assert time.perf_counter() - t0 >= 0.15


@pytest.mark.parametrize("chat", [True, False], ids=["chat", "completions"])
def test_n_choices_are_the_answers_for_consecutive_seeds(servers, chat):
    srv = servers[chat]
    many = answer(srv, chat, "count up", seed=3, n=3)
    single = [answer(srv, chat, "count up", seed=s)["choices"][0] for s in (3, 4, 5)]
    assert [c["index"] for c in many["choices"]] == [0, 1, 2]
    assert [{**c, "index": 0} for c in many["choices"]] == single
    assert len({json.dumps(c) for c in single}) == 3  # three different answers, not one repeated
    assert many["usage"]["completion_tokens"] == 3 * 9 and many["usage"]["prompt_tokens"] == 2


@pytest.mark.parametrize("split_reasoning", [False, True], ids=["plain", "reasoning"])
@pytest.mark.parametrize("chat", [True, False], ids=["chat", "completions"])
def test_streaming_reassembles_to_the_non_streaming_answer(servers, chat, split_reasoning):
    srv = servers[split_reasoning]
    for prompt in ("count up", "cut short"):
        whole = answer(srv, chat, prompt, seed=1, n=2)
        code, ctype, raw = ask(srv, chat, prompt, seed=1, n=2, stream=True,
                               stream_options={"include_usage": True})
        assert code == 200 and ctype.startswith("text/event-stream")
        chunks = events(raw)
        assert chunks[-1] == "[DONE]" and chunks[-2]["choices"] == [] and chunks[-2]["usage"] == whole["usage"]
        assert {c["object"] for c in chunks[:-1]} == {"chat.completion.chunk" if chat else "text_completion"}
        assert len(chunks) > 8  # split into several pieces per choice
        for want in whole["choices"]:
            mine = [c["choices"][0] for c in chunks[:-2] if c["choices"][0]["index"] == want["index"]]
            assert [c["finish_reason"] for c in mine] == [None] * (len(mine) - 1) + [want["finish_reason"]]
            if chat:
                got = {"role": "assistant"}
                for c in mine:
                    for field, piece in c["delta"].items():
                        got[field] = piece if field == "role" else got.get(field, "") + piece
                assert got == want["message"]
                assert ("reasoning_content" in got) == split_reasoning
            else:
                assert "".join(c["text"] for c in mine) == want["text"]
    _, _, raw = ask(srv, chat, "count", stream=True)  # no usage chunk unless asked for
    assert all("usage" not in c for c in events(raw)[:-1])


def test_unknown_models_get_a_404_only_when_models_are_named():
    with ServerProcess(models=["teacher-a", "teacher-b"]) as srv:
        with urllib.request.urlopen(f"{srv.base_url}/models", timeout=10) as resp:
            assert [m["id"] for m in json.loads(resp.read())["data"]] == ["teacher-a", "teacher-b"]
        assert answer(srv, True, "hi", model="teacher-b")["model"] == "teacher-b"
        for chat in (True, False):
            code, ctype, raw = ask(srv, chat, "hi", model="other")
            assert code == 404 and ctype.startswith("application/json")
            assert json.loads(raw) == {"error": {"message": "The model `other` does not exist.",
                                                 "type": "NotFoundError", "code": 404}}
        assert srv.stats() == {"ok": 1, "http_404": 2}
    with ServerProcess() as srv:  # permissive default: any name, and no list that a client would check against
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{srv.base_url}/models", timeout=10)
        assert err.value.code == 404 and "accepts any model name" in json.loads(err.value.read())["error"]["message"]
        assert answer(srv, True, "hi", model="whatever")["choices"][0]["finish_reason"] == "stop"
        from curation import TeacherConfig
        from curation.teachers.openai_client import OpenAITeacher

        for name in ("deepseek-ai/DeepSeek-R1", "my-model"):  # curate's check before any request passes
            teacher = OpenAITeacher(TeacherConfig(backend="openai", model=name, base_urls=[srv.base_url]))
            assert teacher.preflight() == []


def test_seed_in_an_answer_and_shipped_scripts_by_name():
    script = {"rules": [{"match": "q", "answers": ["<think>\ntry {seed}\n</think>\n\\boxed{1}"]}]}
    with ServerProcess(script) as srv:
        texts = {answer(srv, True, "q", seed=s)["choices"][0]["message"]["content"] for s in (3, 4, 3)}
    assert texts == {"<think>\ntry 3\n</think>\n\\boxed{1}", "<think>\ntry 4\n</think>\n\\boxed{1}"}
    from curation.dry_run.scripted_server import read_script

    shipped = read_script("math-demo")
    assert len(shipped["rules"]) > 40 and all("{seed}" in a for r in shipped["rules"] for a in r["answers"])
    with pytest.raises(SystemExit, match="no such file nor shipped script \\(math-demo\\)"):
        read_script("nope")


def test_injected_faults_and_scripted_statuses_have_openai_error_bodies():
    with ServerProcess(SCRIPT, faults="429:1.0") as srv:
        code, _, raw = ask(srv, True, "count", seed=2)
        assert code == 429 and json.loads(raw) == {"error": {"message": "injected fault 429",
                                                             "type": "RateLimitError", "code": 429}}
        assert answer(srv, True, "count", seed=2)["choices"][0]["message"]["content"] == ANSWERS[2]  # a retry
    with ServerProcess(SCRIPT, faults="503:1.0") as srv:
        assert json.loads(ask(srv, False, "count")[2])["error"]["type"] == "InternalServerError"
    with ServerProcess(SCRIPT) as srv:
        code, _, raw = ask(srv, False, "a bad prompt")
        assert code == 400 and json.loads(raw) == {"error": {"message": "scripted status 400 for rule 'bad'",
                                                             "type": "BadRequestError", "code": 400}}


def test_every_request_is_logged_with_its_timing_model_n_and_stream(tmp_path):
    log = tmp_path / "server.jsonl"
    t0 = time.time()
    with ServerProcess(SCRIPT, latency_ms=20, log=str(log), models=["m"]) as srv:
        answer(srv, True, "count", seed=4, n=2, model="m")
        ask(srv, False, "count", seed=4, stream=True, model="m")
        ask(srv, False, "count", seed=4, model="nope")
        ask(srv, True, "bad", model="m")
    rows = read_jsonl(log)
    assert all(set(r) == {"prompt", "seed", "attempt", "outcome", "t_start", "latency_s", "model", "n", "stream"}
               for r in rows)
    assert [(r["attempt"], r["outcome"], r["model"], r["n"], r["stream"], r["latency_s"]) for r in rows] == [
        (1, "ok", "m", 2, False, 0.02), (2, "ok", "m", 1, True, 0.02), (3, "http_404", "nope", 1, False, 0.0),
        (1, "http_400", "m", 1, False, 0.02)]
    starts = [r["t_start"] for r in rows]
    assert t0 <= starts[0] and starts == sorted(starts) and starts[1] - starts[0] >= 0.02


def test_the_readme_dry_run_works_as_written_and_keeps_rows(tmp_path):
    """The two commands of the README's dry run, run as written (a free port, shorter delays and a
    temporary output folder substituted): any teacher model name is served, rows are kept, and
    samples under different seeds differ."""
    import os
    import shlex
    import socket
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    lines = [line.strip() for line in (root / "README.md").read_text().splitlines()]
    server = next(line for line in lines if line.startswith("python -m curation.dry_run.scripted_server --script"))
    curate = next(line for line in lines if line.startswith("curate math --teacher openai --base-url http://127.0.0.1"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    server_argv = [a.replace("200,1.0,3000", "5,1.0,50") for a in shlex.split(server.rstrip(" &"))]
    server_argv[server_argv.index("--port") + 1] = port
    curate_argv = [a.replace(":8000/", f":{port}/") for a in shlex.split(curate)]
    curate_argv[curate_argv.index("--out") + 1] = str(tmp_path / "dry-run")
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    srv = subprocess.Popen([sys.executable, *server_argv[1:]], stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert srv.stdout.readline().startswith("PORT ")
        r = subprocess.run([sys.executable, "-m", "curation.cli", *curate_argv[1:]], capture_output=True, text=True,
                           env=env, cwd=tmp_path)
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((tmp_path / "dry-run" / "report.json").read_text())
    assert report["rows"]["train"] >= 20 and report["generation"]["duplicate_responses"] == 0
    assert report["teacher"]["model"] == "deepseek-ai/DeepSeek-R1"  # curate's default name, served as any other
    assert len(report["generation"]["rounds"]) == 3  # some problems needed more rounds
    assert "repeat another response" not in r.stderr
