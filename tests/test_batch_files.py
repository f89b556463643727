"""Requests out and answers back as OpenAI batch files (``--export-requests``, ``--import-responses``),
the run's price (``--price-input``/``--price-output``) and its budget (``--budget-usd``), against the
scripted server: its Batch API answers an exported file as its completion route answers the same
requests one by one, so the rows of a run through files can be compared with those of a live run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from curation.config import TeacherConfig
from curation.dry_run.scripted_server import ServerProcess
from curation.records import problem_id
from curation.teachers import GenRequest, OpenAITeacher, build_prompt, sample_seed
from curation.teachers.batch import BatchAPI
from tests.conftest import read_jsonl, stored_answers, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
RIGHT = "<think>\nadd\n</think>\n\nThe answer is \\boxed{7}."
WRONG = "<think>\nguess\n</think>\n\nThe answer is \\boxed{8}."
ROWS = [{"id": f"p{i}", "problem": f"p{i}: what is {i} + {7 - i}?", "answer": "7"} for i in range(6)]
# p0 is never right, p1 right for odd seeds, p2 cut off, the rest right: rejection rounds happen
SCRIPT = {"rules": [{"match": "p0:", "answers": [WRONG]}, {"match": "p1:", "answers": [WRONG, RIGHT]},
                    {"match": "p2:", "answers": [RIGHT], "finish_reason": "length"},
                    {"match": "", "answers": [RIGHT]}]}
ROUNDS = ["--samples", "2", "--rounds", "3", "--seed", "5"]


def curate(tmp_path: Path, *extra: str, out: str = "out") -> subprocess.CompletedProcess:
    src = tmp_path / "rows.jsonl"
    if not src.exists():
        write_jsonl(src, ROWS)
    cmd = [sys.executable, "-m", "curation.cli", "math", "--source", str(src), "--teacher", "openai",
           "--teacher-model", "scripted", "--no-decontaminate", "--quiet", "--max-retries", "0",
           "--out", str(tmp_path / out), *extra]
    return subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


def answer_file(srv: ServerProcess, requests: Path, output: Path) -> Path:
    """What OpenAI's Batch API does with a batch input file: the scripted server's, here."""
    api = BatchAPI(srv.base_url)
    batch = api.create(api.upload(requests)["id"], "/v1/chat/completions", "24h", {})
    while batch["status"] not in ("completed", "failed"):
        time.sleep(0.05)
        batch = api.get(batch["id"])
    assert batch["status"] == "completed", batch
    return api.download(batch["output_file_id"], output)


def rows_of(folder: Path) -> list[dict]:
    return pl.read_parquet(folder / "data").to_dicts()


def test_exported_requests_are_what_the_openai_teacher_sends_and_nothing_is_published(tmp_path):
    r = curate(tmp_path, *ROUNDS, "--export-requests", "req.jsonl", "--temperature", "0.7", "--max-tokens", "512")
    assert r.returncode == 0, r.stderr
    assert "12 request(s) written to req.jsonl" in r.stdout and "nothing is published yet" in r.stdout
    assert not (tmp_path / "out").exists() and not list((tmp_path / ".work/out").glob("samples/*.done"))
    lines = read_jsonl(tmp_path / "req.jsonl")
    cfg = TeacherConfig(backend="openai", model="scripted", base_urls=["http://unused"], temperature=0.7,
                        max_tokens=512)
    want = {}
    for row in ROWS:
        pid = problem_id("math", row["problem"])
        for i in range(2):
            req = GenRequest(pid, i, build_prompt("math", row["problem"], row["answer"]), sample_seed(5, pid, i))
            want[(req.prompt, req.seed)] = OpenAITeacher(cfg).payload(req)
    assert len(lines) == 12 and {(ln["method"], ln["url"]) for ln in lines} == {("POST", "/v1/chat/completions")}
    assert {(ln["body"]["messages"][0]["content"], ln["body"]["seed"]): ln["body"] for ln in lines} == want
    assert len({ln["custom_id"] for ln in lines}) == 12
    assert stored_answers(tmp_path / ".responses") == []  # nothing was asked


def test_rejection_rounds_through_batch_files_publish_the_live_runs_rows(tmp_path):
    with ServerProcess(SCRIPT) as srv:
        live = curate(tmp_path, *ROUNDS, "--base-url", srv.base_url, out="live")
        assert live.returncode == 0, live.stderr
        imports: list[str] = []
        for rnd in range(1, 5):
            r = curate(tmp_path, *ROUNDS, "--export-requests", f"req{rnd}.jsonl", *imports, "--responses",
                       "files-store", out="files")  # a store of its own: not served the live run's answers
            assert r.returncode == 0, r.stderr
            if not read_jsonl(tmp_path / f"req{rnd}.jsonl"):
                break  # nothing missing: this run published
            answer_file(srv, tmp_path / f"req{rnd}.jsonl", tmp_path / f"out{rnd}.jsonl")
            imports += ["--import-responses", f"out{rnd}.jsonl"]
    assert rnd == 4 and "every request is answered; req4.jsonl is empty" in " ".join(r.stderr.split())
    live_report, report = (json.loads((tmp_path / name / "report.json").read_text()) for name in ("live", "files"))
    per_round = [r["requests"] for r in live_report["generation"]["rounds"]]
    assert per_round == [12, 4, 4] == [len(read_jsonl(tmp_path / f"req{k}.jsonl")) for k in (1, 2, 3)]
    assert rows_of(tmp_path / "files") == rows_of(tmp_path / "live")
    assert report["funnel"] == [{**s, "seconds": report["funnel"][i]["seconds"]}
                                for i, s in enumerate(live_report["funnel"])]
    gen = report["generation"]
    assert gen["sent"] == 0 and gen["answered"] == live_report["generation"]["answered"] == 20
    # the last run read all three files: the third one's answers are new, the others' stored by earlier runs
    assert [(f["answers"], f["already_answered"]) for f in report["batch_files"]] == [(0, 12), (0, 4), (4, 0)]
    assert (gen["imported"], gen["reused"]) == (4, 16)
    recipe = (tmp_path / "files/recipe.yaml").read_text()
    assert "import_responses" not in recipe and "out1.jsonl" not in recipe  # how answers travelled is not recipe


def test_partial_files_several_files_and_lines_that_answer_no_request(tmp_path):
    r = curate(tmp_path, "--samples", "2", "--export-requests", "req.jsonl")
    assert r.returncode == 0, r.stderr
    with ServerProcess(SCRIPT) as srv:
        lines = read_jsonl(answer_file(srv, tmp_path / "req.jsonl", tmp_path / "all.jsonl"))
    good = lines[0]
    failed = {**lines[1], "response": {"status_code": 500, "request_id": "r", "body": {"error": {"message": "boom"}}}}
    odd = ["{not json", json.dumps({"response": good["response"]}), json.dumps({**good, "custom_id": "nobody"}),
           json.dumps({**lines[2], "response": {"status_code": 200, "request_id": "r", "body": {"choices": []}}}),
           json.dumps(failed)]
    write_jsonl(tmp_path / "first.jsonl", [json.dumps(x) for x in lines[:6]] + odd)
    write_jsonl(tmp_path / "second.jsonl", [json.dumps(x) for x in lines[5:10]])  # line 6 again; two still missing
    r = curate(tmp_path, "--samples", "2", "--import-responses", "first.jsonl", "--import-responses", "second.jsonl")
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stderr.split())
    assert "first.jsonl: 11 line(s): 6 new answer(s)" in said and "second.jsonl: 5 line(s): 4 new answer(s); 1 " \
        "already stored" in said
    for what in ("rejected bad_response 1 (line 10", "rejected no_custom_id 1 (line 8", "rejected not_json 1 (line "
                 "7", "rejected request_failed 1 (line 11: status 500: boom)", "rejected unknown_request 1 (line 9: "
                 "custom_id 'nobody' was not exported from this response store)"):
        assert what in said, what
    # the two answers still missing: nowhere to ask (no --base-url), so nothing is published
    assert "wait for 2 answer(s) and the teacher has no --base-url to ask" in " ".join(r.stdout.split())
    assert not (tmp_path / "out").exists() and len(stored_answers(tmp_path / ".responses")) == 10
    r = curate(tmp_path, "--samples", "2", "--import-responses", "all.jsonl")  # the whole file: all 12 now
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "out/report.json").read_text())["generation"]["answered"] == 12


def test_cost_is_the_tokens_at_the_prices_and_reused_answers_are_priced_apart(tmp_path):
    prices = ["--price-input", "0.55", "--price-output", "2.19"]
    with ServerProcess(SCRIPT) as srv:
        r = curate(tmp_path, *ROUNDS, "--base-url", srv.base_url, *prices)
        assert r.returncode == 0, r.stderr
        gen = json.loads((tmp_path / "out/report.json").read_text())["generation"]
        assert gen["prompt_tokens"] > 0 and gen["completion_tokens"] > 0
        assert gen["cost_usd"] == round((gen["prompt_tokens"] * 0.55 + gen["completion_tokens"] * 2.19) / 1e6, 6)
        assert gen["cost"]["live"]["answers"] == gen["answered"] and gen["cost"]["reused"]["answers"] == 0
        card = (tmp_path / "out/README.md").read_text()
        assert f"cost ${gen['cost_usd']:,.4f} for the {gen['answered']} answers received" in card
        again = curate(tmp_path, *ROUNDS, "--base-url", srv.base_url, *prices, "--restart")  # all from the store
        assert again.returncode == 0, again.stderr
    regen = json.loads((tmp_path / "out/report.json").read_text())["generation"]
    assert regen["cost_usd"] == 0 and regen["cost"]["reused"]["usd"] == gen["cost_usd"] == regen["cost"]["total_usd"]
    plain = curate(tmp_path, *ROUNDS, "--base-url", "http://127.0.0.1:9/v1", "--restart")
    assert plain.returncode == 0, plain.stderr  # no prices: no cost keys (earlier reports stay as they were)
    assert "cost_usd" not in json.loads((tmp_path / "out/report.json").read_text())["generation"]


def test_a_budget_stops_asking_publishes_the_finished_parts_and_a_rerun_goes_on(tmp_path):
    price = ["--price-input", "1000", "--price-output", "1000"]  # about $0.025 an answer here
    args = ["--samples", "2", "--part-size", "2", "--concurrency", "2", "--seed", "5", *price]
    with ServerProcess({"rules": [{"match": "", "answers": [RIGHT]}]}, latency_ms=100) as srv:
        r = curate(tmp_path, *args, "--base-url", srv.base_url, "--budget-usd", "0.1")
        assert r.returncode == 0, r.stderr
        first = srv.stats()["ok"]
        report = json.loads((tmp_path / "out/report.json").read_text())
        assert 4 <= first <= 6 and report["pending"]["reason"] == "budget"
        assert report["generation"]["cost_usd"] <= 0.1 + 1e-9 and report["conservation"]
        assert report["rows"]["train"] == 4 and report["pending"]["parts"] == 2  # one part of two problems done
        assert "--budget-usd reached" in " ".join(r.stderr.split())
        assert "**Incomplete:**" in (tmp_path / "out/README.md").read_text()
        again = curate(tmp_path, *args, "--base-url", srv.base_url, "--budget-usd", "10")
        assert again.returncode == 0, again.stderr
        assert srv.stats()["ok"] == 12  # every answer paid once over both runs
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert "pending" not in report and report["rows"]["train"] == 12


def test_the_progress_line_shows_the_spend_and_what_waits():
    from curation.run.streaming import StreamProgress

    line = StreamProgress(answered=3, spent_usd=0.5, budget_usd=2.0, deferred=4).status(10, 0)
    assert line.endswith("| spent $0.5000 of $2.00 | deferred 4")
    assert "spent" not in StreamProgress(answered=3).status(10, 0)  # no prices: no spend shown
