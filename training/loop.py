"""``train``: one branch expert, full fine-tuning under DeepSpeed ZeRO (a short script over the
components in this package: conversation, packing, loss, attention, schedule, checkpoint, and
parallel's ds_config and sequence_parallel).

Launch: one process (``train ...``), or several through a launcher, which sets RANK/WORLD_SIZE:
``torchrun --nproc_per_node 8 -m training.cli ...``, ``deepspeed --num_gpus 8 --module training.cli ...``
(``--hostfile hosts`` for several nodes) or ``accelerate launch --multi_gpu|--use_deepspeed ...``
(``training.parallel.launchers`` lists the forms and reads accelerate's settings). CPU runs use gloo.

``TrainingRun`` holds the run's shared state: ``setup()`` builds the pieces once (process group,
data, step plan, model, engine), ``train()`` runs the steps and saves.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict
from pathlib import Path

import training.attention as attention
import training.parallel.sequence_parallel as sequence_parallel
from curation import require
from training.checkpoint import DTYPES, gathered_state_dict, latest_tag, prune_checkpoints
from training.config import TrainConfig
from training.loss import final_hidden, full_logits_loss_sum, tile_tokens, tiled_loss_sum
from training.packing import IGNORE, StepPlan, collate
from training.parallel.ds_config import build_ds_config, split_batch
from training.parallel.launchers import world_from_mpi
from training.parallel.sequence_parallel import Layout
from training.preflight import check_inputs
from training.schedule import freeze, lr_lambda, param_groups, warmup_steps
from training.tracking import Trackers, parse_report_to


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


def attn_implementation(cfg: TrainConfig, on_gpu: bool) -> str:
    """The attention the model is loaded with; ``auto``: varlen FlashAttention on a GPU where it is
    installed, else ``sdpa_varlen`` (no L x L mask, ``training.attention``)."""
    choice = cfg.attn_implementation
    if choice == "auto" and on_gpu:
        try:
            import flash_attn  # noqa: F401

            choice = "flash_attention_2"
        except ImportError:
            pass
    if choice in ("auto", attention.NAME):
        return attention.register()
    return choice


class TrainingRun:
    """One ``train`` invocation on this rank."""

    def __init__(self, cfg: TrainConfig, *, progress: bool = True):
        self.cfg, self.progress = cfg, progress

    # ---- setup ---------------------------------------------------------------------------------
    def setup(self) -> TrainingRun:
        cfg = self.cfg
        inputs = check_inputs(cfg)  # seconds, before torch.distributed or DeepSpeed start
        self.tokenizer, self.data, self.mixture = inputs.tokenizer, inputs.data, inputs.mixture
        torch = self.torch = require("torch", "train", "train")
        transformers = require("transformers", "train", "train")
        deepspeed = require("deepspeed", "train", "train")
        self.on_gpu = torch.cuda.is_available()
        rank, world = init_distributed(torch, self.on_gpu)
        self.layout = layout = Layout(world, rank, cfg.sequence_parallel)
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and self.on_gpu)
        torch.manual_seed(cfg.seed)
        self.plan = StepPlan(self.data.lengths, cfg.cutoff, cfg.packing, cfg.seed, cfg.global_batch, cfg.micro_batch,
                             layout.dp_world, cfg.epochs)
        self.total = cfg.max_steps or self.plan.total_steps  # (read before locate() may extend the plan)
        self.warmup = warmup_steps(cfg.warmup_ratio, self.total)
        self.accum = split_batch(cfg.global_batch, cfg.micro_batch, layout.dp_world)

        ds_cfg = build_ds_config(zero_stage=cfg.zero_stage, global_batch=cfg.global_batch, micro_batch=cfg.micro_batch,
                                 world_size=layout.dp_world, bf16=bf16, max_grad_norm=cfg.max_grad_norm,
                                 offload=cfg.offload, sequence_parallel=cfg.sequence_parallel,
                                 optimizer={"type": "AdamW", "params": {
                                     "lr": cfg.lr, "betas": [cfg.adam_beta1, cfg.adam_beta2], "eps": cfg.adam_eps,
                                     "weight_decay": cfg.weight_decay}} if self.on_gpu else None)
        # Keeps ZeRO-3 partitioning active while from_pretrained builds the model (no full copy per rank).
        self._hf_ds = transformers.integrations.HfDeepSpeedConfig(ds_cfg) if cfg.zero_stage == 3 else None
        self.attn = attn_implementation(cfg, self.on_gpu)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            cfg.model, dtype=torch.bfloat16 if bf16 else torch.float32, attn_implementation=self.attn)
        self._liger(model)
        if cfg.gradient_checkpointing:
            if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
                model.activation_checkpointing_enable({"use_reentrant": False})
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
        model.train()  # from_pretrained returns eval mode, where transformers skips gradient checkpointing
        mpu = sequence_parallel.enable(model, self.attn, cfg.sequence_parallel, cfg.micro_batch)
        freeze(model, cfg.freeze)
        groups = param_groups(model, cfg.weight_decay)
        optimizer = None if self.on_gpu else torch.optim.AdamW(groups, lr=cfg.lr, eps=cfg.adam_eps,
                                                               betas=(cfg.adam_beta1, cfg.adam_beta2))
        sched_fn = lr_lambda(cfg.scheduler, self.warmup, self.total)
        self.engine, _, _, self.scheduler = deepspeed.initialize(
            model=model, optimizer=optimizer, config=ds_cfg, mpu=mpu,
            model_parameters=groups if self.on_gpu else None,
            lr_scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, sched_fn))
        self.tile = tile_tokens(inputs.config.vocab_size, cfg.loss_tile_tokens)
        self.start = 0
        ckpt_dir = cfg.output_dir / "checkpoints"
        if cfg.resume and latest_tag(ckpt_dir):
            _, state = self.engine.load_checkpoint(str(ckpt_dir))
            self.start = int((state or {}).get("step", 0))
        return self

    def _liger(self, model) -> None:
        """Liger's kernels for norms, RoPE and SwiGLU on a GPU where installed; its cross-entropy
        kernels are left off because the tiled loss never forms the logits they fuse."""
        if not (self.cfg.liger and self.on_gpu):
            return
        try:
            from liger_kernel.transformers import _apply_liger_kernel_to_instance
        except ImportError:
            return
        _apply_liger_kernel_to_instance(model=model, cross_entropy=False, fused_linear_cross_entropy=False)

    # ---- one step ------------------------------------------------------------------------------
    def _loss_sum(self, batch: dict):
        """This rank's summed token loss over one micro-batch (a 0-dim tensor with its graph)."""
        torch, device = self.torch, self.engine.device
        ids = torch.from_numpy(batch["input_ids"]).to(device)
        pos = torch.from_numpy(batch["position_ids"]).to(device)
        targets = torch.from_numpy(batch["targets"]).to(device)
        if self.cfg.loss == "full":
            return full_logits_loss_sum(self.engine, ids, pos, targets)
        hidden = final_hidden(self.engine, ids, pos)
        return tiled_loss_sum(self.engine.module.get_output_embeddings(), hidden, targets, self.tile)

    def step(self, step: int) -> dict:
        torch, layout = self.torch, self.layout
        t0 = time.perf_counter()
        lr = self.scheduler.get_last_lr()[0]  # the rate this step's update uses
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        micro = [collate(self.data, bins, self.cfg.packing, pad)
                 for bins in self.plan.micro_batches(step, layout.dp_rank)]
        batches = [sequence_parallel.model_batch(b, layout, pad) for b in micro]
        group_lead = layout.sp_rank == 0  # the ranks of a group share their sequences: count them once
        counts = torch.tensor([float((b["targets"] != IGNORE).sum()) for b in batches] +
                              [sum(b["real_tokens"] for b in micro) * group_lead,
                               sum(b["total_tokens"] for b in micro) * group_lead], dtype=torch.float64)
        torch.distributed.all_reduce(counts)
        targets = max(float(counts[:-2].sum()), 1.0)
        # DeepSpeed divides by the accumulation steps and averages over the data-parallel ranks:
        # scaled back, every target token of the global batch weighs 1 / targets.
        scale = self.accum * layout.dp_world / targets
        loss_sum = 0.0
        for b in batches:
            token_sum = self._loss_sum(b)
            loss_sum += float(token_sum.detach())
            self.engine.backward(token_sum * scale)
            self.engine.step()
        total_loss = torch.tensor([loss_sum], dtype=torch.float64)
        torch.distributed.all_reduce(total_loss)
        secs = time.perf_counter() - t0
        gpu = {"gpu_peak_gb": round(torch.cuda.max_memory_allocated() / 2**30, 3)} if self.on_gpu else {}
        return {"step": step + 1, "epoch": self.plan.locate(step)[0] + 1, "loss": round(float(total_loss) / targets, 6),
                "lr": lr, "grad_norm": _grad_norm(self.engine), "tokens_per_s": round(float(counts[-2]) / secs, 1),
                "padding_fraction": round(1 - float(counts[-2]) / float(counts[-1]), 4), "seconds": round(secs, 3),
                **gpu}

    # ---- the run -------------------------------------------------------------------------------
    def train(self) -> dict:
        cfg, torch, rank = self.cfg, self.torch, self.layout.rank
        out, ckpt_dir = cfg.output_dir, cfg.output_dir / "checkpoints"
        if rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            (out / "train_config.json").write_text(json.dumps({
                **asdict(cfg), "world_size": self.layout.world, "data_parallel": self.layout.dp_world,
                "accumulation": self.accum, "total_steps": self.total, "warmup_steps": self.warmup,
                "attn_implementation_used": self.attn, "loss_tile_tokens_used": self.tile,
                "mixture": self.mixture}, indent=1))
        log, kept = _open_log(out / "train_log.jsonl", self.start) if rank == 0 else (None, [])
        trackers = Trackers(parse_report_to(cfg.report_to)[0], out, asdict(cfg)) if rank == 0 else None
        bar = _progress_bar(self.total, self.start) if self.progress and rank == 0 else None
        records: list[dict] = []  # this invocation's steps (rank 0), for the card's curve
        first_loss = kept[0]["loss"] if kept else None  # a resumed run's first loss is its first step's
        last_loss = kept[-1]["loss"] if kept else None
        t_run = time.perf_counter()
        for step in range(self.start, self.total):
            record = self.step(step)
            records.append(record)
            first_loss = record["loss"] if first_loss is None else first_loss
            last_loss = record["loss"]
            if log and (step + 1) % cfg.log_steps == 0:
                log.write(json.dumps(record) + "\n")
                log.flush()
                trackers.log(record)
            if bar:
                bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
                bar.update(1)
            if (step + 1) % cfg.save_steps == 0 and step + 1 < self.total:
                self._save_checkpoint(ckpt_dir, step + 1)
        if bar:
            bar.close()
        if self.total > self.start:
            self._save_checkpoint(ckpt_dir, self.total)
        state = gathered_state_dict(self.engine, cfg.save_dtype, rank)
        summary = {"branch": cfg.branch, "steps": self.total, "resumed_from": self.start,
                   "steps_this_run": self.total - self.start, "first_loss": first_loss,
                   "last_loss": last_loss, "samples": len(self.data), "dropped": dict(self.data.dropped),
                   "truncated": self.data.truncated, "world_size": self.layout.world,
                   "sequence_parallel": self.layout.sp, "seconds": round(time.perf_counter() - t_run, 2)}
        if rank == 0:
            model = self.engine.module
            model.config.use_cache = True
            model.config._attn_implementation = "sdpa" if self.attn == attention.NAME else self.attn
            model.save_pretrained(out, state_dict=state, safe_serialization=True)
            _record_dtype(out / "config.json", cfg.save_dtype)
            self.tokenizer.save_pretrained(out)
            (out / "train_summary.json").write_text(json.dumps(summary, indent=1))
            trackers.finish(summary)
            _model_card(cfg, summary, self.mixture, out, kept + records)
            log.close()
        torch.distributed.barrier()
        return summary

    def _save_checkpoint(self, ckpt_dir: Path, step: int) -> None:
        self.engine.save_checkpoint(str(ckpt_dir), tag=f"step-{step}", client_state={"step": step})
        if self.layout.rank == 0:
            prune_checkpoints(ckpt_dir, self.cfg.keep_checkpoints)


def train(cfg: TrainConfig, *, progress: bool = True) -> dict:
    return TrainingRun(cfg, progress=progress).setup().train()


def _open_log(path: Path, start: int):
    """``(file, kept records)``: a fresh run starts a fresh log; a resumed run keeps the records of
    the steps before its checkpoint (a killed run may have logged steps past it)."""
    kept = []
    if start and path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the kill
                continue
            if record.get("step", 0) <= start:
                kept.append(record)
    f = open(path, "w")  # noqa: SIM115
    f.writelines(json.dumps(r) + "\n" for r in kept)
    return f, kept


def _record_dtype(config_json: Path, save_dtype: str) -> None:
    """save_pretrained records the in-memory dtype; record the saved weights' one (for dtype="auto")."""
    data = json.loads(config_json.read_text())
    data["dtype"] = DTYPES[save_dtype]
    if "torch_dtype" in data:
        data["torch_dtype"] = DTYPES[save_dtype]
    config_json.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _grad_norm(engine) -> float | None:
    try:
        norm = engine.get_global_grad_norm()
    except Exception:  # not every optimizer wrapper tracks it
        return None
    return None if norm is None else round(float(norm), 6)


def _progress_bar(total: int, start: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)


def _model_card(cfg: TrainConfig, summary: dict, mixture: list[dict], out: Path, records: list[dict]) -> None:
    from data_cards import render_model_card

    render_model_card(out, kind="train", title=f"Branch-Merge {cfg.branch} expert", base_model=cfg.model,
                      datasets=[s["data"] for s in mixture], settings={**asdict(cfg), "mixture": mixture},
                      metrics=summary, curve=records)
