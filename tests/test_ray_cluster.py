"""`--executor ray` on a two-node cluster simulated with ``ray.cluster_utils.Cluster``: the same
shards as the local executor, a worker node lost mid-run (and replaced when a node joins), a
driver killed with SIGKILL, and a node that cannot sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.test_golden_outputs import COT, GOLDEN, LIVE_SCRIPT, curate_case, fingerprint, live_command, needs

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'branch-merge[ray]')")
cluster_utils = pytest.importorskip("ray.cluster_utils")

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
LIVE_LATENCY_MS = 250  # every answer: the run lasts long enough for a node to leave and another to join
COT_ARGS = ["math", "--source", str(COT), "--field", "problem=question", "--field", "answer=gt", "--field",
            "responses=code", "--allow-no-think", "--no-decontaminate", "--quiet"]


@pytest.fixture(scope="module")
def cluster():
    c = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield c
    ray.shutdown()
    c.shutdown()


def _worker_nodes(c) -> list:
    return [n for n in c.list_all_nodes() if n is not c.head_node]


def _curate_in_process(args: list[str], out: Path):
    from click.testing import CliRunner

    from curation.cli import main

    return CliRunner().invoke(main, [*args, "--out", str(out)], catch_exceptions=False)


@pytest.mark.parametrize("name", ["math_demo", "science_demo", "code_demo_sandbox"])
def test_two_nodes_publish_exactly_the_local_executors_shards(name, cluster, tmp_path, monkeypatch):
    if (why := needs(name)) is not None:
        pytest.skip(why)
    monkeypatch.chdir(tmp_path)
    got = curate_case(name, tmp_path, ["--executor", "ray", "--ray-address", cluster.address])
    golden = json.loads(GOLDEN.read_text())[name]
    assert {k: v for k, v in got.items() if k != "report"} == {k: v for k, v in golden.items() if k != "report"}
    assert got["report"] == golden["report"]
    executor = json.loads((tmp_path / name / "report.json").read_text())["executor"]
    assert executor["nodes"] == 2 and executor["workers"] == 2 and executor["cpus"] == 2
    if name == "code_demo_sandbox":  # every node's own sandbox, each recorded
        assert [n["isolation"]["unprivileged_uid"] for n in executor["node_isolation"]] == [True, True]


def _local_reference(tmp_path: Path, part_size: str) -> dict:
    out = tmp_path / "local"
    r = _curate_in_process([*COT_ARGS, "--part-size", part_size], out)
    assert r.exit_code == 0, r.output
    return fingerprint(out)


def _wait_for_parts(work: Path, n: int, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while len(list((work / "samples").glob("*.done"))) < n and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_worker_node_lost_mid_run_still_ends_with_the_same_shards(cluster, tmp_path, monkeypatch):
    if not COT.is_file():
        pytest.skip(f"real public data not found at {COT}")
    monkeypatch.chdir(tmp_path)
    reference = _local_reference(tmp_path, "5")
    out = tmp_path / "ray"
    results = {}
    run = threading.Thread(target=lambda: results.setdefault("r", _curate_in_process(
        [*COT_ARGS, "--part-size", "5", "--executor", "ray", "--ray-address", cluster.address], out)))
    run.start()
    _wait_for_parts(tmp_path / ".work/ray", 1)
    done_before = len(list((tmp_path / ".work/ray/samples").glob("*.done")))
    cluster.remove_node(_worker_nodes(cluster)[0])  # its worker and whatever it was judging are lost
    run.join(timeout=300)
    cluster.add_node(num_cpus=1)  # back to two nodes for the other tests (after the run: no room during it)
    cluster.wait_for_nodes()
    assert results["r"].exit_code == 0, results["r"].output
    assert done_before < 20, "the run ended before the node could be removed"
    got = fingerprint(out)
    assert {k: v for k, v in got.items() if k != "report"} == {k: v for k, v in reference.items() if k != "report"}
    report = json.loads((out / "report.json").read_text())
    assert report["conservation"] and report["parts"] == 20
    assert report["executor"]["workers_lost"] == 1 and report["executor"]["calls_retried"] >= 1
    assert report["executor"]["workers_replaced"] == 0  # no room for one: the survivor holds every CPU


def test_a_lost_worker_is_replaced_when_a_node_joins(cluster, tmp_path):
    """The golden live-teacher case with slower answers: a worker node removed while answers are
    being checked and another added; a replacement starts there and the shards are the local
    executor's."""
    from curation.dry_run.scripted_server import ServerProcess

    out, log = tmp_path / "live", tmp_path / "server.jsonl"
    with ServerProcess(LIVE_SCRIPT, latency_ms=LIVE_LATENCY_MS, log=str(log)) as srv:
        cmd, env = live_command(out, srv.base_url, ["--executor", "ray", "--ray-address", cluster.address])
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 120
        while (not log.exists() or len(log.read_text().splitlines()) < 24) and time.monotonic() < deadline:
            time.sleep(0.05)
        cluster.remove_node(_worker_nodes(cluster)[0])  # a worker lost while answers are being checked
        cluster.add_node(num_cpus=1)  # room for a replacement (and two nodes again for the other tests)
        cluster.wait_for_nodes()
        _, stderr = proc.communicate(timeout=300)
        asked = len(log.read_text().splitlines())
    assert proc.returncode == 0, stderr[-2000:]
    golden = json.loads(GOLDEN.read_text())["math_live_rounds"]
    assert fingerprint(out) == golden
    executor = json.loads((out / "report.json").read_text())["executor"]
    assert executor["workers_lost"] == 1 and executor["workers_replaced"] == 1, (executor, asked)
    assert executor["nodes"] == 3 and sum(n["workers"] for n in executor["node_isolation"]) == 3


def test_a_driver_killed_with_sigkill_resumes_from_the_part_markers(cluster, tmp_path, monkeypatch):
    if not COT.is_file():
        pytest.skip(f"real public data not found at {COT}")
    monkeypatch.chdir(tmp_path)
    reference = _local_reference(tmp_path, "5")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "curation.cli", *COT_ARGS, "--part-size", "5", "--executor", "ray",
           "--ray-address", cluster.address, "--out", str(tmp_path / "ray")]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    work = tmp_path / ".work/ray"
    _wait_for_parts(work, 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in (work / "samples").glob("*.done")}
    assert 2 <= len(finished) < 20, "the run ended before it could be killed"
    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert {p: (work / "samples" / p).stat().st_mtime_ns for p in finished} == finished  # not redone
    got = fingerprint(tmp_path / "ray")
    assert {k: v for k, v in got.items() if k != "report"} == {k: v for k, v in reference.items() if k != "report"}


def test_a_node_that_cannot_sandbox_stops_the_run_naming_it(cluster, tmp_path, monkeypatch):
    from tests.conftest import sandbox_unavailable

    if sandbox_unavailable():
        pytest.skip(sandbox_unavailable())
    bad = cluster.add_node(num_cpus=1, env_vars={"PATH": "/nonexistent"})  # no bwrap to be found there
    cluster.wait_for_nodes()
    try:
        monkeypatch.chdir(tmp_path)
        r = _curate_in_process(["code", "--sandbox", "--quiet", "--executor", "ray", "--ray-address",
                                cluster.address], tmp_path / "code")
    finally:
        cluster.remove_node(bad)
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.startswith("curate: error:")]
    assert len(lines) == 1 and "cannot run the code sandbox (bubblewrap (bwrap) is not installed)" in lines[0]
    assert "Ray node" in lines[0] and not (tmp_path / "code" / "data").exists()
