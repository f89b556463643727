"""Launchers people use for ``train``: the DeepSpeed launcher (``--module``, ``--local_rank``) and
``accelerate launch`` (its settings honoured or refused with one line), two processes on CPU."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from training.parallel.launchers import accelerate_settings, accumulation_problem, conflicts, world_from_mpi

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DS = {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_MIXED_PRECISION": "no", "WORLD_SIZE": "2", "RANK": "0"}


def test_accelerate_deepspeed_plugin_settings_become_train_settings():
    env = {**DS, "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2", "ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE": "cpu",
           "ACCELERATE_GRADIENT_CLIPPING": "0.5", "ACCELERATE_MIXED_PRECISION": "bf16"}
    assert accelerate_settings(env) == ({"zero_stage": 2, "offload": True, "max_grad_norm": 0.5,
                                         "precision": "bf16"}, [])
    env3 = {**DS, "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3", "ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE": "none",
            "ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE": "none"}
    assert accelerate_settings(env3) == ({"zero_stage": 3}, [])
    assert accelerate_settings({"WORLD_SIZE": "2", "RANK": "1"}) == ({}, [])  # not under accelerate


@pytest.mark.parametrize("extra, says", [
    ({"ACCELERATE_DEEPSPEED_ZERO_STAGE": "1"}, "--zero_stage 1: train runs ZeRO stage 2 or 3"),
    ({"ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE": "nvme"}, "--offload_param_device nvme: train offloads to cpu"),
    ({"ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE": "cpu"}, "offloads optimizer state and parameters together"),
    ({"ACCELERATE_DEEPSPEED_ZERO_STAGE": "2", "ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE": "cpu"},
     "parameter offload needs ZeRO-3"),
    ({"ACCELERATE_DEEPSPEED_CONFIG_FILE": "ds.json"}, "--deepspeed_config_file: train builds its DeepSpeed config"),
    ({"ACCELERATE_MIXED_PRECISION": "fp16"}, "--mixed_precision fp16"),
    ({"ACCELERATE_USE_DEEPSPEED": "false", "ACCELERATE_USE_FSDP": "true"}, "--use_fsdp"),
    ({"ACCELERATE_DYNAMO_BACKEND": "INDUCTOR"}, "--dynamo_backend inductor"),
])
def test_accelerate_settings_train_cannot_honour_are_refused(extra, says):
    settings, problems = accelerate_settings({**DS, **extra})
    assert len(problems) == 1 and says in problems[0] and problems[0].startswith("accelerate launch ")


def test_a_single_process_where_accelerate_was_asked_for_several_is_refused():
    # `accelerate launch --cpu --num_processes 2`: one process, MASTER_ADDR set, no world
    env = {"ACCELERATE_USE_CPU": "True", "ACCELERATE_MIXED_PRECISION": "no", "MASTER_ADDR": "127.0.0.1"}
    assert "accelerate started a single process" in accelerate_settings(env)[1][0]
    assert accelerate_settings({"ACCELERATE_USE_CPU": "True"}) == ({}, [])  # --num_processes 1 is fine
    mpi = {**env, "OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1"}
    assert accelerate_settings(mpi) == ({}, [])  # mpirun started the others
    assert world_from_mpi(mpi) == {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    assert world_from_mpi({**mpi, "WORLD_SIZE": "4"}) == {}


def test_accumulation_and_flag_conflicts():
    env = {**DS, "ACCELERATE_GRADIENT_ACCUMULATION_STEPS": "4"}
    assert accumulation_problem(env, global_batch=8, micro_batch=1) is None  # 8 / (1 x 2)
    assert "derives accumulation" in accumulation_problem(env, global_batch=96, micro_batch=1)
    assert conflicts({"zero_stage": 2}, {"zero_stage": 3, "lr": 1e-5}) == [
        "zero_stage: accelerate launch says 2, the train flag says 3; give one"]
    assert conflicts({"zero_stage": 2}, {"zero_stage": None}) == [] == conflicts({"zero_stage": 2}, {"zero_stage": 2})


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "training.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_cli_uses_accelerates_zero_stage_and_refuses_in_one_line():
    r = _cli("--branch", "science", "--model", "m", "--print-config",
             env={**DS, "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"})
    assert r.returncode == 0 and "zero_stage: 2" in r.stdout
    r = _cli("--branch", "science", "--model", "m", "--zero-stage", "3", env={**DS, "ACCELERATE_USE_FSDP": "true",
                                                                            "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(lines) == 2
    assert all(line.startswith("train: error: ") for line in lines)
    r = _cli("--branch", "science", "--model", "m", "--print-config", "--local_rank=1")  # the DeepSpeed launcher's
    assert r.returncode == 0, r.stderr
    assert _cli("--branch", "science", "--model", "m", "--print-config", "--local-rank", "0").returncode == 0


def test_help_shows_the_launch_forms_that_work():
    text = _cli("--help").stdout
    for form in ("torchrun --nproc_per_node", "deepspeed --num_gpus 8 --module training.cli",
                 "deepspeed --hostfile hosts --module training.cli", "accelerate launch --multi_gpu",
                 "accelerate launch --use_deepspeed --zero_stage 2"):
        assert form in text
    assert "--local_rank" not in text and "-m training.cli" in text


# ---- real launchers, two processes on CPU (gloo) ---------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from helpers.tiny_models import build_qwen2

    return build_qwen2(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def science_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("curated") / "science"
    subprocess.run([sys.executable, "-m", "curation.cli", "science", "--quiet", "--out", str(out)], check=True,
                   cwd=tmp_path_factory.mktemp("cwd"), env=_env(), capture_output=True)
    return out


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _train_args(tiny: Path, data: Path, out: Path) -> list[str]:
    return ["training.cli", "--branch", "science", "--model", str(tiny), "--data", str(data), "--output", str(out),
            "--cutoff", "2048", "--global-batch", "2", "--max-steps", "2", "--lr", "3e-3"]


def _loads_and_ran_on_two_ranks(out: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2
    assert AutoModelForCausalLM.from_pretrained(out, dtype="auto").dtype == torch.bfloat16
    return json.loads((out / "train_config.json").read_text())


@pytest.mark.integration
def test_deepspeed_launcher_with_two_processes_on_cpu(tiny, science_set, tmp_path):
    """Exactly what runs: ``deepspeed --num_gpus 2 --master_port P --module training.cli ...``. On a machine
    without GPUs DeepSpeed picks its CPU accelerator; --num_gpus sets the ranks per host (it does not check
    them against devices), each rank gets --local_rank=N and LOCAL_RANK, and trains over gloo."""
    pytest.importorskip("deepspeed")
    out = tmp_path / "ds"
    cmd = ["deepspeed", "--num_gpus", "2", "--master_port", _free_port(), "--module", *_train_args(tiny, science_set,
                                                                                                       out)]
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "--local_rank=1" in r.stdout  # the launcher passed it and the CLI took it
    _loads_and_ran_on_two_ranks(out)


@pytest.mark.integration
def test_accelerate_launch_with_deepspeed_zero2_and_two_processes(tiny, science_set, tmp_path):
    pytest.importorskip("accelerate")
    out = tmp_path / "acc"
    cmd = ["accelerate", "launch", "--use_deepspeed", "--zero_stage", "2", "--num_processes", "2", "--num_machines",
           "1", "--mixed_precision", "no", "--main_process_port", _free_port(), "-m", *_train_args(tiny, science_set,
                                                                                                  out)]
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert _loads_and_ran_on_two_ranks(out)["zero_stage"] == 2  # the preset says 3; accelerate's stage is used


@pytest.mark.integration
def test_accelerate_launch_cpu_with_two_processes_is_refused(tiny, tmp_path):
    pytest.importorskip("accelerate")
    cmd = ["accelerate", "launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", _free_port(), "-m", "training.cli", "--branch", "science",
           "--model", str(tiny), "--output", str(tmp_path / "x")]
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, cwd=ROOT)
    ours = [line for line in r.stderr.splitlines() if line.startswith("train: error: ")]
    assert r.returncode != 0 and len(ours) == 1 and "accelerate started a single process" in ours[0]
    assert not (tmp_path / "x").exists()
