"""What a launcher asked for, read from the environment it gives each process.

torchrun and the DeepSpeed launcher set RANK / WORLD_SIZE / LOCAL_RANK (the DeepSpeed launcher
also passes ``--local_rank``, which the CLI accepts and ignores). ``accelerate launch`` sets
them too with ``--multi_gpu`` or ``--use_deepspeed`` (it runs torchrun underneath, on CPU as
well), and passes its other settings as ``ACCELERATE_*`` variables: the ones train can honour
become settings (ZeRO stage, offload, clipping, bf16), the others are refused with one line
each rather than ignored. With ``--cpu`` (or no mode) and several processes accelerate starts
one process and leaves the world to mpirun; mpirun's rank variables are honoured, a lone
process is refused.
"""

from __future__ import annotations

LAUNCH_FORMS = """\b
Launch forms (every rank runs this command; CPU runs use gloo):
  train ...                                              one process
  torchrun --nproc_per_node 8 -m training.cli ...
  deepspeed --num_gpus 8 --module training.cli ...       (--module, not -m)
  deepspeed --hostfile hosts --module training.cli ...   several nodes
  accelerate launch --multi_gpu --num_processes 8 -m training.cli ...
  accelerate launch --use_deepspeed --zero_stage 2 --num_processes 8 -m training.cli ...

accelerate's ZeRO stage, offload (cpu), gradient clipping and bf16 are used; settings train
cannot honour (FSDP, fp16, a DeepSpeed config file, nvme offload, ...) are refused."""

_MPI = {"RANK": ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"),
        "WORLD_SIZE": ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"),
        "LOCAL_RANK": ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MPI_LOCAL_RANK")}
_OFFLOAD = {"none", "cpu"}


def world_from_mpi(env: dict) -> dict[str, str]:
    """RANK / WORLD_SIZE / LOCAL_RANK from mpirun's variables, when mpirun started the processes."""
    if "WORLD_SIZE" in env:
        return {}
    found = {key: next((env[n] for n in names if n in env), None) for key, names in _MPI.items()}
    if found["RANK"] is None or found["WORLD_SIZE"] is None:
        return {}
    return {**found, "LOCAL_RANK": found["LOCAL_RANK"] or "0"}


def accelerate_settings(env: dict) -> tuple[dict, list[str]]:
    """``(settings, problems)``: what ``accelerate launch`` asked for, as train settings, and one
    line per thing it asked for that train cannot do. Empty outside accelerate."""
    if not any(k.startswith("ACCELERATE_") for k in env):
        return {}, []
    settings: dict = {}
    problems: list[str] = []

    def refuse(what: str, why: str) -> None:
        problems.append(f"accelerate launch {what}: {why}")

    if "WORLD_SIZE" not in env and not world_from_mpi(env) and "MASTER_ADDR" in env:
        # accelerate sets MASTER_ADDR for several processes, but without --multi_gpu/--use_deepspeed
        # (e.g. --cpu) it starts only one and expects mpirun to start the rest.
        refuse("--num_processes N without --multi_gpu or --use_deepspeed",
               "accelerate started a single process; use --multi_gpu or --use_deepspeed (they work on CPU too)")
    if env.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        refuse("--use_fsdp", "train shards with DeepSpeed ZeRO; use --use_deepspeed --zero_stage 2|3")
    if env.get("ACCELERATE_USE_MEGATRON_LM", "").lower() == "true":
        refuse("--use_megatron_lm", "not supported by train")
    if any(k.startswith("PARALLELISM_CONFIG_") for k in env):
        refuse("--use_parallelism_config", "train has data parallelism only")
    precision = env.get("ACCELERATE_MIXED_PRECISION", "no").lower()
    if precision == "bf16":
        settings["precision"] = "bf16"
    elif precision != "no":  # "no" is accelerate's default, so it cannot mean an explicit fp32
        refuse(f"--mixed_precision {precision}", "train trains in bf16 or fp32 (--precision)")
    if env.get("ACCELERATE_DYNAMO_BACKEND", "NO").upper() != "NO":
        refuse(f"--dynamo_backend {env['ACCELERATE_DYNAMO_BACKEND'].lower()}", "train does not compile the model")
    if env.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        _deepspeed_plugin(env, settings, refuse)
    return settings, problems


def _deepspeed_plugin(env: dict, settings: dict, refuse) -> None:
    if "ACCELERATE_DEEPSPEED_CONFIG_FILE" in env:
        refuse("--deepspeed_config_file", "train builds its DeepSpeed config from its own settings; give them as "
                                          "train flags (--zero-stage, --offload, --micro-batch, ...)")
    if "ACCELERATE_DEEPSPEED_MOE_LAYER_CLS_NAMES" in env:
        refuse("--deepspeed_moe_layer_cls_names", "not supported by train")
    stage = env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE")
    if stage is not None:
        if stage in ("2", "3"):
            settings["zero_stage"] = int(stage)
        else:
            refuse(f"--zero_stage {stage}", "train runs ZeRO stage 2 or 3")
    opt = env.get("ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", "none").lower()
    param = env.get("ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE", "none").lower()
    zero3 = settings.get("zero_stage", 3) == 3  # train's default stage is 3
    for what, device in (("--offload_optimizer_device", opt), ("--offload_param_device", param)):
        if device not in _OFFLOAD:
            refuse(f"{what} {device}", "train offloads to cpu only")
    if {opt, param} <= _OFFLOAD and (opt, param) != ("none", "none"):
        if zero3 and opt != param:
            refuse(f"--offload_optimizer_device {opt} --offload_param_device {param}",
                   "under ZeRO-3 train offloads optimizer state and parameters together (both cpu or both none)")
        elif not zero3 and param == "cpu":
            refuse("--offload_param_device cpu", "parameter offload needs ZeRO-3")
        else:
            settings["offload"] = opt == "cpu"
    clip = env.get("ACCELERATE_GRADIENT_CLIPPING")
    if clip not in (None, "none"):
        try:
            settings["max_grad_norm"] = float(clip)
        except ValueError:
            refuse(f"--gradient_clipping {clip}", "not a number")


def accumulation_problem(env: dict, global_batch: int, micro_batch: int) -> str | None:
    """accelerate's ``--gradient_accumulation_steps`` must be the one train derives from the batch."""
    asked = env.get("ACCELERATE_GRADIENT_ACCUMULATION_STEPS")
    if asked is None or env.get("ACCELERATE_USE_DEEPSPEED", "").lower() != "true":
        return None
    world = int(env.get("WORLD_SIZE", "1"))
    derived = global_batch // max(1, micro_batch * world)
    if asked.strip() != str(derived):
        return (f"accelerate launch --gradient_accumulation_steps {asked}: train derives accumulation from the "
                f"batch (global {global_batch} / (micro {micro_batch} x world {world}) = {derived}); "
                f"set --global-batch instead")
    return None


def conflicts(launcher: dict, flags: dict) -> list[str]:
    """A setting given both to the launcher and as a train flag, with different values."""
    return [f"{key}: accelerate launch says {value!r}, the train flag says {flags[key]!r}; give one"
            for key, value in launcher.items() if flags.get(key) is not None and flags[key] != value]
