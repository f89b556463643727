"""``train``: one branch expert, full fine-tuning under DeepSpeed ZeRO (a short script over the
components in this package: data, packing, loss, ds_config, checkpoint).

Launch: one process (``train ...``), or several through a launcher, which sets RANK/WORLD_SIZE:
``torchrun --nproc_per_node 8 -m training.cli ...``, ``deepspeed --num_gpus 8 --module training.cli ...``
(``--hostfile hosts`` for several nodes) or ``accelerate launch --multi_gpu|--use_deepspeed ...``
(``training.launchers`` lists the forms and reads accelerate's settings). CPU runs use gloo.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import asdict
from pathlib import Path

from curation import ref_problem, require
from training.checkpoint import DTYPES, gathered_state_dict, latest_tag, prune_checkpoints
from training.config import TrainConfig
from training.data import load_mixture, tokenize_rows
from training.ds_config import build_ds_config, split_batch
from training.launchers import world_from_mpi
from training.loss import packed_logits, shifted_token_losses
from training.packing import StepPlan, collate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed(torch, on_gpu: bool) -> tuple[int, int]:
    """``(rank, world_size)``; a single process without a launcher gets a world of one."""
    import torch.distributed as dist

    backend = "nccl" if on_gpu else "gloo"
    if not dist.is_initialized():
        for key, value in world_from_mpi(os.environ).items():  # mpirun names the ranks its own way
            os.environ.setdefault(key, value)
        if "WORLD_SIZE" not in os.environ:
            # No launcher: a world of one. DeepSpeed reads the launcher's variables, so provide them.
            for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"),
                               ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", str(_free_port()))):
                os.environ.setdefault(key, value)
        import deepspeed

        deepspeed.init_distributed(dist_backend=backend)
    if on_gpu:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return dist.get_rank(), dist.get_world_size()


def lr_lambda(scheduler: str, warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        if scheduler == "constant_with_warmup":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if scheduler == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return max(0.0, 1 - progress)  # linear

    return f


def _attn_impl(cfg: TrainConfig, on_gpu: bool) -> str:
    if cfg.attn_implementation != "auto":
        return cfg.attn_implementation
    if on_gpu:
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def _param_groups(model, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train(cfg: TrainConfig, *, progress: bool = True) -> dict:
    torch = require("torch", "train", "train")
    transformers = require("transformers", "train", "train")
    deepspeed = require("deepspeed", "train", "train")
    on_gpu = torch.cuda.is_available()
    rank, world = init_distributed(torch, on_gpu)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and on_gpu)
    out = cfg.output_dir
    ckpt_dir = out / "checkpoints"
    torch.manual_seed(cfg.seed)

    if problem := ref_problem(cfg.model, "model"):
        raise FileNotFoundError(problem)
    tokenizer = transformers.AutoTokenizer.from_pretrained(cfg.model)
    rows, mixture = load_mixture(cfg.data_specs, cfg.seed, cfg.max_samples)
    data = tokenize_rows(rows, tokenizer, cfg.cutoff)
    if len(data) == 0:
        raise ValueError(f"no trainable samples in {cfg.data_path} (dropped: {dict(data.dropped)})")
    plan = StepPlan(data.lengths, cfg.cutoff, cfg.packing, cfg.seed, cfg.global_batch, cfg.micro_batch, world,
                    cfg.epochs)
    total = cfg.max_steps or plan.total_steps  # (read before locate() may extend the plan)
    warmup = int(cfg.warmup_ratio * total)
    accum = split_batch(cfg.global_batch, cfg.micro_batch, world)

    ds_cfg = build_ds_config(zero_stage=cfg.zero_stage, global_batch=cfg.global_batch, micro_batch=cfg.micro_batch,
                             world_size=world, bf16=bf16, max_grad_norm=cfg.max_grad_norm, offload=cfg.offload,
                             optimizer={"type": "AdamW", "params": {
                                 "lr": cfg.lr, "betas": [cfg.adam_beta1, cfg.adam_beta2], "eps": cfg.adam_eps,
                                 "weight_decay": cfg.weight_decay}} if on_gpu else None)
    # Keeps ZeRO-3 partitioning active while from_pretrained builds the model (no full copy per rank).
    hf_ds = transformers.integrations.HfDeepSpeedConfig(ds_cfg) if cfg.zero_stage == 3 else None  # noqa: F841
    dtype = torch.bfloat16 if bf16 else torch.float32
    model = transformers.AutoModelForCausalLM.from_pretrained(cfg.model, dtype=dtype,
                                                              attn_implementation=_attn_impl(cfg, on_gpu))
    if cfg.liger and on_gpu:
        try:
            from liger_kernel.transformers import _apply_liger_kernel_to_instance

            _apply_liger_kernel_to_instance(model=model)
        except ImportError:
            pass
    if cfg.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    optimizer = None if on_gpu else torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr,
                                                      betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)
    sched_fn = lr_lambda(cfg.scheduler, warmup, total)
    engine, _, _, scheduler = deepspeed.initialize(
        model=model, optimizer=optimizer, config=ds_cfg,
        model_parameters=_param_groups(model, cfg.weight_decay) if on_gpu else None,
        lr_scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, sched_fn))

    start = 0
    if cfg.resume and latest_tag(ckpt_dir):
        _, state = engine.load_checkpoint(str(ckpt_dir))
        start = int((state or {}).get("step", 0))
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps({**asdict(cfg), "world_size": world, "accumulation": accum,
                                                           "total_steps": total, "warmup_steps": warmup,
                                                           "mixture": mixture}, indent=1))
    log = open(out / "train_log.jsonl", "a") if rank == 0 else None  # noqa: SIM115
    tb = _tensorboard(out) if cfg.tensorboard and rank == 0 else None
    bar = _progress_bar(total, start) if progress and rank == 0 else None
    device = engine.device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    first_loss = last_loss = None
    t_run = time.perf_counter()
    for step in range(start, total):
        t0 = time.perf_counter()
        micro = [collate(data, bins, cfg.packing, pad) for bins in plan.micro_batches(step, rank)]
        counts = torch.tensor([float((b["labels"][:, 1:] != -100).sum()) for b in micro] +
                              [sum(b["real_tokens"] for b in micro), sum(b["total_tokens"] for b in micro)])
        torch.distributed.all_reduce(counts)
        targets = float(counts[:-2].sum())
        loss_sum = 0.0
        for b in micro:
            ids = torch.from_numpy(b["input_ids"]).to(device)
            labels = torch.from_numpy(b["labels"]).to(device)
            pos = torch.from_numpy(b["position_ids"]).to(device)
            logits = packed_logits(engine, ids, pos)
            token_sum = shifted_token_losses(logits, labels).sum()
            loss_sum += float(token_sum.detach())
            engine.backward(token_sum * (accum * world) / max(targets, 1.0))
            engine.step()
        total_loss = torch.tensor([loss_sum], dtype=torch.float64)
        torch.distributed.all_reduce(total_loss)
        loss = float(total_loss) / max(targets, 1.0)
        first_loss = loss if first_loss is None else first_loss
        last_loss = loss
        secs = time.perf_counter() - t0
        record = {"step": step + 1, "epoch": plan.locate(step)[0] + 1, "loss": round(loss, 6),
                  "lr": scheduler.get_last_lr()[0], "grad_norm": _grad_norm(engine),
                  "tokens_per_s": round(float(counts[-2]) / secs, 1),
                  "padding_fraction": round(1 - float(counts[-2]) / float(counts[-1]), 4), "seconds": round(secs, 3)}
        if log and (step + 1) % cfg.log_steps == 0:
            log.write(json.dumps(record) + "\n")
            log.flush()
            if tb:
                for k in ("loss", "lr", "grad_norm", "tokens_per_s", "padding_fraction"):
                    if record[k] is not None:
                        tb.add_scalar(f"train/{k}", record[k], step + 1)
        if bar:
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{record['lr']:.2e}")
            bar.update(1)
        if (step + 1) % cfg.save_steps == 0 and step + 1 < total:
            _save_checkpoint(engine, ckpt_dir, step + 1, cfg, rank)
    if bar:
        bar.close()
    if total > start:
        _save_checkpoint(engine, ckpt_dir, total, cfg, rank)
    state = gathered_state_dict(engine, cfg.save_dtype, rank)
    summary = {"branch": cfg.branch, "steps": total, "resumed_from": start, "first_loss": first_loss,
               "last_loss": last_loss, "samples": len(data), "dropped": dict(data.dropped), "world_size": world,
               "seconds": round(time.perf_counter() - t_run, 2)}
    if rank == 0:
        model_to_save = engine.module
        model_to_save.config.use_cache = True
        model_to_save.save_pretrained(out, state_dict=state, safe_serialization=True)
        _record_dtype(out / "config.json", cfg.save_dtype)
        tokenizer.save_pretrained(out)
        (out / "train_summary.json").write_text(json.dumps(summary, indent=1))
        _model_card(cfg, summary, mixture, out)
        log.close()
    torch.distributed.barrier()
    return summary


def _record_dtype(config_json: Path, save_dtype: str) -> None:
    """save_pretrained records the in-memory dtype; record the saved weights' one (for dtype="auto")."""
    data = json.loads(config_json.read_text())
    data["dtype"] = DTYPES[save_dtype]
    if "torch_dtype" in data:
        data["torch_dtype"] = DTYPES[save_dtype]
    config_json.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _save_checkpoint(engine, ckpt_dir: Path, step: int, cfg: TrainConfig, rank: int) -> None:
    engine.save_checkpoint(str(ckpt_dir), tag=f"step-{step}", client_state={"step": step})
    if rank == 0:
        prune_checkpoints(ckpt_dir, cfg.keep_checkpoints)


def _grad_norm(engine) -> float | None:
    try:
        norm = engine.get_global_grad_norm()
    except Exception:  # not every optimizer wrapper tracks it
        return None
    return None if norm is None else round(float(norm), 6)


def _progress_bar(total: int, start: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def _model_card(cfg: TrainConfig, summary: dict, mixture: list[dict], out: Path) -> None:
    from data_cards import render_model_card

    render_model_card(out, kind="train", title=f"Branch-Merge {cfg.branch} expert", base_model=cfg.model,
                      datasets=[s["data"] for s in mixture], settings={**asdict(cfg), "mixture": mixture},
                      metrics=summary)
