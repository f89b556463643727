"""The DeepSpeed config for one run: ZeRO stage, offload, precision, and the micro-batch /
accumulation split derived from the global batch and the world size."""

from __future__ import annotations


def split_batch(global_batch: int, micro_batch: int, world_size: int) -> int:
    """Gradient accumulation steps; the global batch must split evenly over ranks and micro-batches."""
    per_step = micro_batch * world_size
    if global_batch % per_step:
        raise ValueError(f"global batch {global_batch} is not a multiple of micro batch {micro_batch} x "
                         f"world size {world_size}")
    return global_batch // per_step


def build_ds_config(*, zero_stage: int, global_batch: int, micro_batch: int, world_size: int, bf16: bool,
                    max_grad_norm: float, offload: bool = False, optimizer: dict | None = None,
                    sequence_parallel: int = 1) -> dict:
    """``world_size`` counts data-parallel ranks (the world divided by ``sequence_parallel``).
    ``optimizer`` (DeepSpeed's own AdamW, for GPUs) is left out on CPU, where a torch optimizer is
    passed to ``deepspeed.initialize`` instead."""
    accum = split_batch(global_batch, micro_batch, world_size)
    zero: dict = {"stage": zero_stage, "overlap_comm": True, "contiguous_gradients": True,
                  "reduce_bucket_size": 5e7}
    if zero_stage == 3:
        zero.update(stage3_gather_16bit_weights_on_model_save=True, stage3_prefetch_bucket_size=5e7,
                    stage3_param_persistence_threshold=1e5)
    if offload:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if zero_stage == 3:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    cfg = {
        "train_batch_size": global_batch,
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": accum,
        "gradient_clipping": max_grad_norm,
        "zero_optimization": zero,
        "bf16": {"enabled": bf16},
        "fp16": {"enabled": False},
        "zero_allow_untested_optimizer": True,
        "zero_force_ds_cpu_optimizer": False,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if optimizer:
        cfg["optimizer"] = optimizer
    if sequence_parallel > 1:
        cfg["sequence_parallel_size"] = sequence_parallel
    return cfg
