"""`--executor ray` on a real local Ray (2 CPUs): the same shards as the local executor, with and
without the LLM judge.

The local executor's shards are the golden fingerprints (``tests/golden``), so every case here
compares its train and rejected rows with exactly what the local executor publishes.
"""

from __future__ import annotations

import json

import pytest

from tests.test_golden_outputs import GOLDEN, curate_case, needs

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'branch-merge[ray]')")

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def same_as_local(name: str, got: dict) -> None:
    golden = json.loads(GOLDEN.read_text())[name]
    assert {k: v for k, v in got.items() if k != "report"} == {k: v for k, v in golden.items() if k != "report"}
    assert got["report"] == golden["report"]  # every count and reason (timings and the executor aside)


@pytest.mark.parametrize("name", ["math_demo", "science_demo", "code_demo_sandbox", "math_cot_100x8",
                                  "math_live_rounds"])
def test_ray_publishes_exactly_the_local_executors_shards(name, local_ray, tmp_path, monkeypatch):
    if (why := needs(name)) is not None:
        pytest.skip(why)
    monkeypatch.chdir(tmp_path)
    got = curate_case(name, tmp_path, ["--executor", "ray", "--ray-address", local_ray])
    same_as_local(name, got)
    executor = json.loads((tmp_path / name / "report.json").read_text())["executor"]
    assert executor["kind"] == "ray" and executor["nodes"] == 1 and executor["workers"] == 2
    assert executor["task_seconds"]  # per-stage task time is reported
    if name == "code_demo_sandbox":
        assert executor["node_isolation"][0]["isolation"]["unprivileged_uid"] is True


@pytest.mark.parametrize("teacher", ["replay", "live"])
def test_the_llm_judge_under_ray_gives_the_local_executors_shards(teacher, local_ray, tmp_path, monkeypatch):
    """The judge is asked from the driver under Ray too (replayed traces: after each part; a live
    teacher: after each checked batch), its replies logged in the work folder and reused."""
    from click.testing import CliRunner

    from curation.cli import main
    from curation.dry_run.scripted_server import ServerProcess
    from tests.conftest import read_jsonl, write_jsonl
    from tests.test_golden_outputs import fingerprint
    from tests.test_judge import JUDGE_ROWS, JUDGE_SCRIPT

    monkeypatch.chdir(tmp_path)
    rows = JUDGE_ROWS if teacher == "replay" else [{k: v for k, v in r.items() if k != "responses"}
                                                   for r in JUDGE_ROWS]
    write_jsonl(tmp_path / "src.jsonl", rows)
    answers = {"rules": [{"match": r["problem"], "answers": r["responses"]} for r in JUDGE_ROWS]}
    log = tmp_path / "judge-server.jsonl"
    with ServerProcess(JUDGE_SCRIPT, log=str(log), models=["judge-model"]) as judge, \
            ServerProcess(answers, models=["teacher-model"]) as live:
        args = ["math", "--source", "src.jsonl", "--no-decontaminate", "--quiet", "--judge", "openai",
                "--judge-model", "judge-model", "--judge-base-url", judge.base_url]
        if teacher == "live":
            args += ["--teacher", "openai", "--teacher-model", "teacher-model", "--base-url", live.base_url,
                     "--samples", "2", "--rounds", "1"]

        def curate(out: str, *extra: str) -> int:  # each output its own answer store, so both runs ask the teacher
            r = CliRunner().invoke(main, [*args, *extra, "--out", out, "--responses", f"{out}-answers"],
                                   catch_exceptions=False)
            assert r.exit_code == 0, r.output
            return len(read_jsonl(log))

        by_local = curate("local")
        by_ray = curate("ray", "--executor", "ray", "--ray-address", local_ray) - by_local
        published = fingerprint(tmp_path / "ray")
        for marker in (tmp_path / ".work/ray/samples").glob("*.done"):  # as if killed after judging
            marker.unlink()
        again = curate("ray", "--executor", "ray", "--ray-address", local_ray) - by_local - by_ray
    assert by_ray == by_local >= 3 and again == 0  # the re-run took every reply from the judge's log
    assert published == fingerprint(tmp_path / "local")
    rerun = fingerprint(tmp_path / "ray")  # the same rows (its report counts no new teacher requests)
    assert {k: v for k, v in rerun.items() if k != "report"} == {k: v for k, v in published.items() if k != "report"}
    report = json.loads((tmp_path / "ray/report.json").read_text())
    assert report["executor"]["kind"] == "ray" and report["verifier"]["decided_by"]["judge"] >= 1
    assert report["verifier"]["judge"]["model"] == "judge-model"


def test_retrieval_candidates_from_ray_workers_equal_the_local_ones(local_ray, shared_data):
    """``--decontam-judge``'s retrieval (issue 31) on the workers: the index goes through the object
    store once, the problems in chunks; the candidates are the local executor's."""
    from curation.config import CurateConfig
    from curation.dedup import LexicalIndex
    from curation.run.executors.registry import make_executor
    from curation.stages.format_filters import LengthCounter
    from tests.conftest import read_jsonl

    rows = read_jsonl(shared_data / "dedup/rephrased_benchmark_pairs.jsonl")[:700]
    index = LexicalIndex(list(dict.fromkeys(r["original"] for r in rows)))
    texts = [r["rephrased"] for r in rows]
    cfg = CurateConfig()
    cfg.executor.kind, cfg.executor.address = "ray", local_ray
    executor = make_executor(cfg, LengthCounter(None))
    executor.start()
    try:
        on_ray = executor.retrieve(texts, index, 5)
        calls = executor.task_seconds["retrieve"]
    finally:
        executor.close()
    assert on_ray == index.candidates(texts, 5) and calls > 0  # sent to the workers (700 texts >= 512)


def test_a_missing_ray_cluster_address_is_one_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from curation.cli import main

    ray.shutdown()  # the module's Ray goes (this test runs last); the fixture's teardown copes
    r = CliRunner().invoke(main, ["math", "--executor", "ray", "--ray-address", "127.0.0.1:9", "--quiet",
                                  "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.startswith("curate: error:")]
    assert len(lines) == 1 and "cannot join the Ray cluster at 127.0.0.1:9" in lines[0]
