"""`--executor ray` on a real local Ray (2 CPUs): the same shards as the local executor.

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


def test_a_missing_ray_cluster_address_is_one_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from curation.cli import main

    ray.shutdown()  # the module's Ray goes (this test runs last); the fixture's teardown copes
    r = CliRunner().invoke(main, ["math", "--executor", "ray", "--ray-address", "127.0.0.1:9", "--quiet",
                                  "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.startswith("curate: error:")]
    assert len(lines) == 1 and "cannot join the Ray cluster at 127.0.0.1:9" in lines[0]
