"""End-to-end curation runs: conservation, resume after SIGKILL, publishing, the card."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from curation import build_config, run_curation

COT_FIELDS = {"problem": "question", "answer": "gt", "responses": "code"}


def curate(out: Path, source: str, **over) -> dict:
    recipe = {"domain": "math", "source": {"path": source, "fields": over.pop("fields", {})},
              "output": {"out_dir": str(out), **over.pop("output", {})}, **over}
    return run_curation(build_config(recipe), quiet=True)


def assert_conserved(report: dict) -> None:
    assert report["conservation"] is True
    for stage in report["funnel"]:
        assert stage["rows_in"] == stage["kept"] + sum(stage["rejected"].values()), stage
    # stages chain: what one keeps is what the next receives (samples fan out at generate)
    f = {s["stage"]: s for s in report["funnel"]}
    assert f["load"]["kept"] == f["exact_dedup"]["rows_in"]
    assert f["exact_dedup"]["kept"] == f["decontaminate"]["rows_in"]
    assert f["decontaminate"]["kept"] == f["near_dedup"]["rows_in"]
    assert f["near_dedup"]["kept"] == f["generate"]["rows_in"]
    assert f["generate"]["rows_out"] == f["format"]["rows_in"]
    assert f["format"]["kept"] == f["verify"]["rows_in"]
    assert f["verify"]["kept"] == f["select"]["rows_in"]
    assert report["rows"]["rejected"] == sum(s["rejected_total"] for s in report["funnel"])


def test_demo_run_conserves_and_publishes(tmp_path):
    out = tmp_path / "math"
    report = curate(out, "demo")
    assert_conserved(report)
    train = pl.read_parquet(out / "data")
    rejected = pl.read_parquet(out / "rejected")
    assert train.height == report["rows"]["train"] > 40
    assert rejected.height == report["rows"]["rejected"]
    assert set(rejected["reason"].unique()) == {r for s in report["funnel"] for r in s["rejected"]}
    row = train.row(0, named=True)
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
    assert row["messages"][1]["content"].startswith("<think>") and "</think>" in row["messages"][1]["content"]
    assert row["verdict"]["passed"] is True and row["teacher"]["model"] == "deepseek-ai/DeepSeek-R1"
    for name in ("README.md", "report.json", "recipe.yaml", "plots/response_lengths.png"):
        assert (out / name).is_file(), name


def test_real_traces_conserve(tmp_path, shared_data):
    out = tmp_path / "cot"
    report = curate(out, str(shared_data / "traces/math_cot_100x8.jsonl"), fields=COT_FIELDS,
                    filters={"allow_no_think": True}, output={"part_size": 30})
    assert_conserved(report)
    assert report["rows"]["samples_generated"] == 800
    assert report["parts"] == 4
    # The source's own grader marks 728 right; ours agrees to within a few answers.
    assert abs(report["rows"]["train"] - 728) <= 8


def test_load_dataset_reads_both_configs_and_sees_a_recuration(tmp_path):
    import datasets

    out = tmp_path / "math"
    report = curate(out, "demo", output={"shard_rows": 20})
    assert len(report["shards"]["train"]) == -(-report["rows"]["train"] // 20)
    train = datasets.load_dataset(str(out), split="train")
    rejected = datasets.load_dataset(str(out), "rejected", split="train")
    assert (train.num_rows, rejected.num_rows) == (report["rows"]["train"], report["rows"]["rejected"])
    # Re-curating the same folder with another recipe: datasets must not serve its cached copy.
    again = run_curation(build_config({"domain": "math", "source": {"path": "demo"}, "select": {"keep": "first"},
                                       "output": {"out_dir": str(out), "shard_rows": 20}}), quiet=True, restart=True)
    assert again["rows"]["train"] < report["rows"]["train"]
    assert datasets.load_dataset(str(out), split="train").num_rows == again["rows"]["train"]


def test_card_header_and_numbers(tmp_path):
    from huggingface_hub import DatasetCard

    out = tmp_path / "math"
    report = curate(out, "demo")
    card = DatasetCard.load(out / "README.md")
    configs = {c["config_name"]: c for c in card.data.to_dict()["configs"]}
    assert configs["default"]["data_files"][0]["path"] == report["shards"]["train"]
    assert configs["rejected"]["data_files"][0]["path"] == report["shards"]["rejected"]
    assert all((out / f).is_file() for f in report["shards"]["train"] + report["shards"]["rejected"])
    text = (out / "README.md").read_text()
    for s in report["funnel"]:
        assert f"| {s['stage']} | {s['rows_in']} | {s['kept']} | {s['rejected_total']} |" in text
    png = (out / "plots/response_lengths.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000


def test_keep_modes(tmp_path):
    first = curate(tmp_path / "a", "demo", select={"keep": "first"})
    shortest = curate(tmp_path / "b", "demo", select={"keep": "shortest"})
    two = curate(tmp_path / "c", "demo", select={"keep": "2"})
    everything = curate(tmp_path / "d", "demo")
    problems = pl.read_parquet(tmp_path / "d/data")["problem_id"].n_unique()
    assert first["rows"]["train"] == shortest["rows"]["train"] == problems
    assert problems < two["rows"]["train"] <= everything["rows"]["train"]
    a = pl.read_parquet(tmp_path / "a/data")
    b = pl.read_parquet(tmp_path / "b/data")
    assert (b["num_chars"].sum()) <= (a["num_chars"].sum())


def test_rerun_skips_finished_parts_and_a_changed_recipe_redoes_only_the_phases_it_changes(tmp_path):
    out = tmp_path / "math"
    first = curate(out, "demo")
    work = Path(first["work_dir"])
    markers = {p: p.stat().st_mtime_ns for p in work.rglob("*.done")}
    again = curate(out, "demo")
    assert {p: p.stat().st_mtime_ns for p in work.rglob("*.done")} == markers
    assert again["funnel"] == first["funnel"]
    # a changed selection: load and the problem stages are kept, the sample parts redone, no --restart
    changed = curate(out, "demo", select={"keep": "first"})
    kept = {p: t for p, t in markers.items() if "samples" not in p.parts}
    assert kept and {p: p.stat().st_mtime_ns for p in kept} == kept
    assert all(p.stat().st_mtime_ns != t for p, t in markers.items() if "samples" in p.parts)
    fresh = curate(tmp_path / "fresh", "demo", select={"keep": "first"})
    def counts(report: dict) -> list[dict]:
        return [{k: v for k, v in stage.items() if k != "seconds"} for stage in report["funnel"]]

    assert counts(changed) == counts(fresh) and _train_rows(out) == _train_rows(tmp_path / "fresh")
    # a changed problem stage redoes the problem stages and the samples, not the load
    curate(out, "demo", select={"keep": "first"}, dedup={"threshold": 0.9})
    loaded = {p: t for p, t in markers.items() if p.parent.name == "load" or p.name == "load.done"}
    assert loaded and all(p.stat().st_mtime_ns == t for p, t in loaded.items())


def _train_rows(out: Path) -> list[dict]:
    return pl.read_parquet(out / "data").sort("id").to_dicts()


def test_sigkill_midway_then_rerun_publishes_the_same_rows(tmp_path, shared_data):
    """Kill a multi-part run with SIGKILL part-way, re-run it, compare with an uninterrupted run."""
    src = str(shared_data / "traces/math_cot_100x8.jsonl")
    args = ["--source", src, "--field", "problem=question", "--field", "answer=gt", "--field", "responses=code",
            "--allow-no-think", "--part-size", "4", "--quiet", "--workers", "2", "--no-decontaminate"]
    cmd = [sys.executable, "-m", "curation.cli", "math", *args]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    subprocess.run([*cmd, "--out", str(tmp_path / "clean")], check=True, env=env, capture_output=True)

    killed_out = tmp_path / "killed"
    work = tmp_path / ".work" / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(killed_out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((work / "samples").glob("*.done"))) >= 3:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_at_kill = len(list((work / "samples").glob("*.done")))
    assert 3 <= done_at_kill < 25, done_at_kill
    assert not (killed_out / "report.json").exists()

    rerun = subprocess.run([*cmd, "--out", str(killed_out)], env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert _train_rows(killed_out) == _train_rows(tmp_path / "clean")
    clean = json.loads((tmp_path / "clean/report.json").read_text())
    resumed = json.loads((killed_out / "report.json").read_text())
    strip = [{k: v for k, v in s.items() if k != "seconds"} for s in clean["funnel"]]
    assert [{k: v for k, v in s.items() if k != "seconds"} for s in resumed["funnel"]] == strip
    assert pl.read_parquet(killed_out / "rejected").height == pl.read_parquet(tmp_path / "clean/rejected").height
