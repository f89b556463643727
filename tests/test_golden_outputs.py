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
import re
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "curation_outputs.json"
SHARED = ROOT.parent / "shared" / "data"
COT = SHARED / "traces" / "math_cot_100x8.jsonl"

# name -> curate arguments (each run writes to OUT)
CASES = {
    "math_demo": ["math"],
    "code_demo": ["code"],
    "code_demo_sandbox": ["code", "--sandbox"],
    "science_demo": ["science"],
    "math_cot_100x8": ["math", "--recipe", "RECIPE", "--source", str(COT), "--field", "problem=question",
                       "--field", "answer=gt", "--field", "responses=code", "--allow-no-think", "--part-size", "30"],
}
# The real-traces case is decontaminated against real benchmark files (the shipped recipe's are
# Hub datasets, and tests are offline).
COT_RECIPE = {"domain": "math", "decontaminate": {"benchmarks": {
    "math500": str(SHARED / "math" / "math500.jsonl"), "aime24": str(SHARED / "math" / "aime24.jsonl")}}}
_VOLATILE = {"seconds", "wall_seconds", "versions", "work_dir", "teacher_seconds", "requests_per_s",
             "completion_tokens_per_s"}


# Sandboxed code verdicts carry each test's wall time in their detail (it varies run to run).
_TEST_SECONDS = re.compile(r'(\\?"seconds\\?": )[0-9.e-]+')


def _rows_digest(folder: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for name in files:
        for row in pq.read_table(folder / name).to_pylist():
            text = json.dumps(row, sort_keys=True, default=str, ensure_ascii=False)
            h.update(_TEST_SECONDS.sub(r"\1T", text).encode())
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


def curate_case(name: str, cwd: Path) -> dict:
    from curation.cli import main

    out = cwd / name
    recipe = cwd / f"{name}.yaml"
    recipe.write_text(json.dumps(COT_RECIPE))
    args = [str(recipe) if a == "RECIPE" else a for a in CASES[name]]
    result = CliRunner().invoke(main, [*args, "--quiet", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return fingerprint(out)


def _needs(name: str) -> str | None:
    if name == "math_cot_100x8" and not COT.is_file():
        return f"real public data not found at {COT}"
    if name == "code_demo_sandbox":
        from tests.conftest import sandbox_unavailable

        return sandbox_unavailable()
    return None


@pytest.mark.parametrize("name", sorted(CASES))
def test_published_rows_and_report_numbers_are_unchanged(name, tmp_path, monkeypatch):
    if (why := _needs(name)) is not None:
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
            if (why := _needs(name)) is not None:
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
