"""Published rows and report numbers stay exactly what they were when these values were recorded.

Each case curates through the CLI (in process) and is reduced to a fingerprint: a hash of every
train row and every rejected row (read back from the Parquet shards, in order), the shard
counts, and the report with only its timings, versions and machine paths left out. The values
in ``tests/golden/curation_outputs.json`` were recorded before the architecture change of the
domain registry and stage contract, so a refactor that changes a row, a reason or a count fails
here. Re-record (``python tests/test_golden_outputs.py --record``) only for an intended change,
and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "curation_outputs.json"
SHARED = ROOT.parent / "shared" / "data"
COT = SHARED / "traces" / "math_cot_100x8.jsonl"

# A live teacher in rejection rounds: a scripted server whose answers depend only on the request
# (right, wrong, right for some seeds, failing, truncated), with varied latency so answers arrive
# out of order.
LIVE_ROWS = [{"id": f"q{i}", "problem": f"q{i}: what is {i} + 1?", "answer": str(i + 1)} for i in range(60)]


def _live_answers(i: int) -> dict:
    right = f"<think>\nadd one\n</think>\n\nThe answer is \\boxed{{{i + 1}}}."
    wrong = f"<think>\nguess\n</think>\n\nThe answer is \\boxed{{{i + 2}}}."
    rule = {"match": f"q{i}:"}
    kind = i % 6
    if kind == 0:
        rule["answers"] = [right]
    elif kind == 1:
        rule["answers"] = [wrong]
    elif kind == 2:
        rule["answers"] = [wrong, right]
    elif kind == 3:
        rule["status"] = 500
    elif kind == 4:
        rule["answers"] = [wrong, wrong, right]
    else:
        rule.update(answers=[right], finish_reason="length")
    return rule


LIVE_SCRIPT = {"rules": [_live_answers(i) for i in range(len(LIVE_ROWS))]}
LIVE_ARGS = ["math", "--source", "LIVE_SOURCE", "--teacher", "openai", "--base-url", "BASE_URL", "--teacher-model",
             "scripted", "--samples", "2", "--rounds", "3", "--want", "1", "--concurrency", "8", "--part-size", "20",
             "--seed", "11", "--no-decontaminate"]

# The real-traces case is decontaminated against real benchmark files (the shipped recipe's are
# Hub datasets, and tests are offline).
# The files are linked into the run's folder and named relative to it: the source's name is in
# every row and the report, so an absolute path would tie the values to one checkout's place.
COT_FILES = {"math_cot_100x8.jsonl": COT, "math500.jsonl": SHARED / "math" / "math500.jsonl",
             "aime24.jsonl": SHARED / "math" / "aime24.jsonl"}
COT_RECIPE = {"domain": "math", "decontaminate": {"benchmarks": {"math500": "math500.jsonl",
                                                                 "aime24": "aime24.jsonl"}}}
# name -> curate arguments (each run writes to OUT)
CASES = {
    "math_demo": ["math"],
    "code_demo": ["code"],
    "code_demo_sandbox": ["code", "--sandbox"],
    "science_demo": ["science"],
    "math_live_rounds": LIVE_ARGS,
    "math_cot_100x8": ["math", "--recipe", "RECIPE", "--source", "math_cot_100x8.jsonl", "--field", "problem=question",
                       "--field", "answer=gt", "--field", "responses=code", "--allow-no-think", "--part-size", "30"],
}
# Keys the report gained after the values were recorded (compared by their own tests).
_ADDED = {"first_errors", "duplicate_responses", "executor", "judge"}
_VOLATILE = _ADDED | {"base_urls", "seconds", "wall_seconds", "versions", "work_dir", "teacher_seconds",
                      "requests_per_s", "completion_tokens_per_s"}


def _rows_digest(folder: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for name in files:
        for row in pq.read_table(folder / name).to_pylist():
            h.update(json.dumps(row, sort_keys=True, default=str, ensure_ascii=False).encode())
            h.update(b"\n")
    return h.hexdigest()


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def fingerprint(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    shards = report.pop("shards")
    report["source"].pop("files", None)  # absolute paths of this checkout
    return {
        "train_rows": _rows_digest(out, shards["train"]),
        "rejected_rows": _rows_digest(out, shards["rejected"]),
        "train_shards": len(shards["train"]),
        "rejected_shards": len(shards["rejected"]),
        "report": _stable(report),
    }


def curate_case(name: str, cwd: Path, extra: list[str] | None = None) -> dict:
    """Curate one case into ``cwd/name`` (``extra``: more CLI arguments, e.g. another executor)."""
    from curation.cli import main

    out = cwd / name
    recipe = cwd / f"{name}.yaml"
    recipe.write_text(json.dumps(COT_RECIPE))
    if name == "math_cot_100x8":
        for link, target in COT_FILES.items():
            if not (cwd / link).exists():
                (cwd / link).symlink_to(target)
    if name == "math_live_rounds":
        return _curate_live(out, extra or [])
    args = [str(recipe) if a == "RECIPE" else a for a in CASES[name]]
    result = CliRunner().invoke(main, [*args, *(extra or []), "--quiet", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return fingerprint(out)


def live_command(out: Path, base_url: str, extra: list[str]) -> tuple[list[str], dict]:
    """The live case's ``curate`` command against the scripted server at ``base_url`` (its source
    written beside ``out``; run it in ``out.parent``) and the environment to run it in."""
    import os

    src = out.parent / "live.jsonl"  # named relative to the run's folder: the source name is in every row
    src.write_text("".join(json.dumps(r) + "\n" for r in LIVE_ROWS))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    args = [{"LIVE_SOURCE": src.name, "BASE_URL": base_url}.get(a, a) for a in LIVE_ARGS]
    return [sys.executable, "-m", "curation.cli", *args, *extra, "--max-retries", "1", "--quiet", "--out",
            str(out)], env


def _curate_live(out: Path, extra: list[str]) -> dict:
    import subprocess

    from curation.dry_run.scripted_server import ServerProcess

    with ServerProcess(LIVE_SCRIPT, latency="lognormal:4,1.0,40") as srv:
        cmd, env = live_command(out, srv.base_url, extra)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=out.parent)
    assert r.returncode == 0, r.stderr[-2000:]
    return fingerprint(out)


def needs(name: str) -> str | None:
    if name == "math_cot_100x8" and not COT.is_file():
        return f"real public data not found at {COT}"
    if name == "code_demo_sandbox":
        from tests.conftest import sandbox_unavailable

        return sandbox_unavailable()
    return None


@pytest.mark.parametrize("name", sorted(CASES))
def test_published_rows_and_report_numbers_are_unchanged(name, tmp_path, monkeypatch):
    if (why := needs(name)) is not None:
        pytest.skip(why)
    monkeypatch.chdir(tmp_path)
    golden = json.loads(GOLDEN.read_text())[name]
    got = curate_case(name, tmp_path)
    assert got["report"] == golden["report"]
    assert {k: v for k, v in got.items() if k != "report"} == {k: v for k, v in golden.items() if k != "report"}


def record() -> None:
    import os
    import tempfile

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    values = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        for name in sorted(CASES):
            if (why := needs(name)) is not None:
                raise SystemExit(f"cannot record {name}: {why}")
            values[name] = curate_case(name, Path(tmp))
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(values)} cases in {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        raise SystemExit("usage: python tests/test_golden_outputs.py --record")
    sys.path.insert(0, str(ROOT))
    record()
