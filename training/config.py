"""One typed config for ``train``: branch preset YAML < ``--config`` YAML < flags.

The shared settings of the reference table (lr 1e-5, warmup 0.1, Adam betas (0.9, 0.95), eps
1e-8, weight decay 0.01, clip 1.0, cutoff 16384, bf16, gradient checkpointing) are the field
defaults; the presets in ``training/presets`` hold what differs per branch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from curation.config import ConfigError, coerce_setting, leaf_type, load_yaml

PRESETS_DIR = Path(__file__).parent / "presets"
BRANCHES = ("math", "code", "science")
SCHEDULERS = ("constant_with_warmup", "cosine", "linear")
PACKING = ("neat", "plain", "none")


TrainConfigError = ConfigError  # the same error type as curate's: a list of one-line problems


def _f(default, help: str = "", flag: bool = True):
    return field(default=default, metadata={"help": help, "flag": flag})


@dataclass
class TrainConfig:
    branch: str = _f("science", "Branch preset: math, code or science.")
    model: str | None = _f(None, "Student model: local folder or Hub id.")
    data: str | None = _f(None, "Curated shards: a folder (out/<branch>) or a Hub dataset id. Default out/<branch>.")
    output: str | None = _f(None, "Output folder. Default runs/<branch>.")
    epochs: int = _f(5, "Passes over the data.")
    max_steps: int | None = _f(None, "Stop after this many optimizer steps (overrides epochs).")
    global_batch: int = _f(96, "Sequences per optimizer step over all ranks (packed sequences when packing).")
    micro_batch: int = _f(1, "Sequences per forward pass per rank.")
    lr: float = _f(1e-5, "Peak learning rate.")
    scheduler: str = _f("constant_with_warmup", "constant_with_warmup, cosine or linear.")
    warmup_ratio: float = _f(0.1, "Share of steps with linear warmup.")
    adam_beta1: float = _f(0.9, flag=False)
    adam_beta2: float = _f(0.95, flag=False)
    adam_eps: float = _f(1e-8, flag=False)
    weight_decay: float = _f(0.01, "AdamW weight decay (not on biases and norms).")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm.")
    cutoff: int = _f(16384, "Longest sequence in tokens; longer samples are dropped and counted, never cut.")
    packing: str = _f("neat", "neat (no attention across packed samples), plain (packed, attending across), "
                      "none (one sample per sequence, padded).")
    zero_stage: int = _f(3, "DeepSpeed ZeRO stage: 2 or 3.")
    offload: bool = _f(False, "Offload optimizer state and (ZeRO-3) parameters to CPU memory.")
    precision: str = _f("auto", "auto (bf16 on GPU, fp32 on CPU), bf16 or fp32.")
    gradient_checkpointing: bool = _f(True, "Recompute activations in the backward pass.")
    attn_implementation: str = _f("auto", "auto (flash_attention_2 when installed on GPU, else sdpa), sdpa, "
                                  "eager, flash_attention_2.")
    liger: bool = _f(True, "Use Liger kernels when liger-kernel is installed (GPU).")
    save_steps: int = _f(500, "Checkpoint every N optimizer steps (and at the end).")
    keep_checkpoints: int = _f(2, "Checkpoints kept on disk.")
    log_steps: int = _f(1, "Log every N steps.")
    tensorboard: bool = _f(False, "Also write TensorBoard events to OUTPUT/tensorboard.")
    seed: int = _f(42, "Seed for the model init of new heads, data order and packing.")
    max_samples: int | None = _f(None, "Use only the first N rows (debugging).")
    save_dtype: str = _f("bf16", "Dtype of the final weights: bf16, fp16 or fp32.")
    resume: bool = _f(False, "Continue from the latest checkpoint in OUTPUT/checkpoints.")

    @property
    def data_path(self) -> str:
        return self.data or f"out/{self.branch}"

    @property
    def output_dir(self) -> Path:
        return Path(self.output or f"runs/{self.branch}")


def _mapping(path: Path, what: str) -> dict:
    data = load_yaml(path, what)
    if not isinstance(data, dict):
        raise ConfigError([f"{what}: {path} must be a mapping of settings"])
    return data


def build_train_config(branch: str, config_file: str | None = None, overrides: dict | None = None) -> TrainConfig:
    """Preset of ``branch`` < ``config_file`` < ``overrides``; every problem reported at once."""
    problems: list[str] = []
    if branch not in BRANCHES:
        raise ConfigError([f"branch: must be one of {', '.join(BRANCHES)}, got {branch!r}"])
    layers = [(f"preset {branch}.yaml: ", _mapping(PRESETS_DIR / f"{branch}.yaml", "preset"))]
    if config_file:
        layers.append((f"{config_file}: ", _mapping(Path(config_file), "config")))
    layers.append(("option --", {k: v for k, v in (overrides or {}).items() if v is not None}))
    hints = {f.name: leaf_type(TrainConfig, f.name) for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(branch=branch)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    for where, values in layers:
        for key, value in values.items():
            key = key.replace("-", "_")
            if key not in names:
                problems.append(f"{where}unknown setting {key!r}")
                continue
            setattr(cfg, key, coerce_setting(value, *hints[key], f"{where}{key}", problems))
    if cfg.branch != branch:
        problems.append(f"branch: the config is for {cfg.branch!r}, not {branch!r}")
    problems += validate(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def validate(c: TrainConfig) -> list[str]:
    p = []
    if c.model is None:
        p.append("model: give --model (a local folder or Hub id of the student)")
    if c.scheduler not in SCHEDULERS:
        p.append(f"scheduler: must be one of {', '.join(SCHEDULERS)}, got {c.scheduler!r}")
    if c.packing not in PACKING:
        p.append(f"packing: must be one of {', '.join(PACKING)}, got {c.packing!r}")
    if c.zero_stage not in (2, 3):
        p.append(f"zero_stage: must be 2 or 3, got {c.zero_stage!r}")
    if c.precision not in ("auto", "bf16", "fp32"):
        p.append(f"precision: must be auto, bf16 or fp32, got {c.precision!r}")
    if c.save_dtype not in ("bf16", "fp16", "fp32"):
        p.append(f"save_dtype: must be bf16, fp16 or fp32, got {c.save_dtype!r}")
    if c.attn_implementation not in ("auto", "sdpa", "eager", "flash_attention_2"):
        p.append(f"attn_implementation: unknown {c.attn_implementation!r}")
    for name in ("epochs", "global_batch", "micro_batch", "cutoff", "save_steps", "log_steps", "keep_checkpoints"):
        v = getattr(c, name)
        if isinstance(v, int) and v < 1:
            p.append(f"{name}: must be at least 1, got {v}")
    for name in ("max_steps", "max_samples"):
        v = getattr(c, name)
        if isinstance(v, int) and v < 1:
            p.append(f"{name}: must be at least 1, got {v}")
    if isinstance(c.lr, float) and not 0 < c.lr < 1:
        p.append(f"lr: must be in (0, 1), got {c.lr}")
    if isinstance(c.warmup_ratio, float) and not 0 <= c.warmup_ratio < 1:
        p.append(f"warmup_ratio: must be in [0, 1), got {c.warmup_ratio}")
    return p


def flag_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("flag") and f.name != "branch"]
