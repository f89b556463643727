"""One typed config for ``train``: branch preset < ``--config`` YAML < flags.

The shared settings of the reference table (lr 1e-5, warmup 0.1, Adam betas (0.9, 0.95), eps
1e-8, weight decay 0.01, clip 1.0, cutoff 16384, bf16, gradient checkpointing) are the field
defaults; a branch's preset holds what differs per branch. The branch is a key of
``curation.DOMAINS``, and its ``training_preset`` names a shipped file in ``training/presets``
or is the mapping of settings itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from curation import DOMAINS, ConfigError, get_domain, load_mapping, set_fields, setting
from training.conversation import OVERLONG, TRAIN_ON
from training.data import parse_spec
from training.tracking import parse_report_to

PRESETS_DIR = Path(__file__).parent / "presets"
SCHEDULERS = ("constant_with_warmup", "cosine", "linear")
PACKING = ("neat", "plain", "none")
ATTENTION = ("auto", "sdpa_varlen", "sdpa", "eager", "flash_attention_2")
LOSSES = ("tiled", "full")


TrainConfigError = ConfigError  # the same error type as curate's: a list of one-line problems


@dataclass
class TrainConfig:
    branch: str = setting("science", True, "Branch preset: a domain of curation.DOMAINS.")
    model: str | None = setting(None, True, "Student model: local folder or Hub id.",
                                aliases=("model_name_or_path",))
    data: list[str] = setting([], True, "Curated shards: a folder or a Hub dataset id; repeat it to mix several "
                              "sets, each optionally SET*N (repeated N times) or SET@N (sampled to N rows). "
                              "Default out/<branch>.", multiple=True, metavar="SET[*N|@N]",
                              near={n: "data takes curated sets (folders or Hub dataset ids with a messages column)"
                                    for n in ("dataset_name", "dataset", "datasets", "train_file")})
    output: str | None = setting(None, True, "Output folder. Default runs/<branch>.", aliases=("output_dir",))
    epochs: int = setting(5, True, "Passes over the data.", aliases=("num_train_epochs",))
    max_steps: int | None = setting(None, True, "Stop after this many optimizer steps (overrides epochs).")
    global_batch: int = setting(96, True, "Sequences per optimizer step over all ranks "
                                "(packed sequences when packing).",
                                near={n: "train sets the step's size itself: global_batch = micro_batch x "
                                         "accumulation x world, and the accumulation follows from it"
                                      for n in ("gradient_accumulation_steps", "total_batch_size", "batch_size")})
    micro_batch: int = setting(1, True, "Sequences per forward pass per rank.",
                               near={"per_device_train_batch_size": "micro_batch is the sequences per forward pass "
                                     "per rank, but the step's size stays global_batch (= micro_batch x accumulation "
                                     "x world), where HF's grows with per_device_train_batch_size; set micro_batch "
                                     "and global_batch"})
    lr: float = setting(1e-5, True, "Peak learning rate.", aliases=("learning_rate",))
    scheduler: str = setting("constant_with_warmup", True, "constant_with_warmup, cosine or linear.",
                             aliases=("lr_scheduler_type",))
    warmup_ratio: float = setting(0.1, True, "Share of steps with linear warmup: ceil(ratio x steps) steps rising "
                                  "from 0, as HF Trainer and TRL (the first update is taken at rate 0).",
                                  near={"warmup_steps": "warmup is given as a share of the steps"})
    adam_beta1: float = setting(0.9, None)
    adam_beta2: float = setting(0.95, None)
    adam_eps: float = setting(1e-8, None, aliases=("adam_epsilon",),
                              near={"optim": "train uses AdamW; its settings are adam_beta1, adam_beta2, adam_eps"})
    weight_decay: float = setting(0.01, True, "AdamW weight decay (not on biases and norms).")
    max_grad_norm: float = setting(1.0, True, "Gradient clipping norm.")
    freeze: str | None = setting(None, True, "Parameters left as the model has them: a regular expression searched in "
                                 "each parameter's name (e.g. 'embed_tokens|layers\\.[01]\\.'), as LLaMA-Factory's "
                                 "freeze tuning; the rest train.", metavar="REGEX")
    cutoff: int = setting(16384, True, "Longest sequence in tokens (over all sequence-parallel ranks together).",
                          aliases=("max_seq_length", "max_length", "cutoff_len"))
    overlong: str = setting("drop", True, "A sample longer than the cutoff: drop (counted) or truncate (cut at the "
                            "cutoff, as LLaMA-Factory; counted in the model card).")
    train_on: str = setting("all", True, "Assistant turns trained: all (as TRL) or last (earlier turns are context).")
    packing: str = setting("neat", True, "neat (no attention across packed samples), plain (packed, attending across), "
                         "none (one sample per sequence, padded).")
    zero_stage: int = setting(3, True, "DeepSpeed ZeRO stage: 2 or 3.",
                              near={"deepspeed": "train writes its own DeepSpeed config from zero_stage and offload"})
    offload: bool = setting(False, True, "Offload optimizer state and (ZeRO-3) parameters to CPU memory.")
    precision: str = setting("auto", True, "auto (bf16 on GPU, fp32 on CPU), bf16 or fp32.",
                             near={n: "precision takes auto, bf16 or fp32" for n in ("bf16", "fp16", "tf32")})
    gradient_checkpointing: bool = setting(True, True, "Recompute activations in the backward pass.")
    attn_implementation: str = setting("auto", True, "auto (flash_attention_2 when installed on GPU, else "
                                       "sdpa_varlen: per-sample causal sdpa, no L x L mask), sdpa_varlen, sdpa, eager, "
                                       "flash_attention_2.")
    sequence_parallel: int = setting(1, True, "Split each sequence over N ranks (DeepSpeed Ulysses); the world is "
                                     "divided into data-parallel groups of N.")
    loss: str = setting("tiled", True, "tiled (the loss from the last hidden state in tiles, never the full logits) "
                        "or full (the whole logits tensor; reference and debugging).")
    loss_tile_tokens: int = setting(0, True, "Tokens per loss tile; 0 picks 2^26 logit entries (441 tokens at a "
                                    "152,064 vocabulary).")
    liger: bool = setting(True, True, "Use Liger kernels when liger-kernel is installed (GPU).",
                          aliases=("use_liger_kernel", "use_liger"))
    save_steps: int = setting(500, True, "Checkpoint every N optimizer steps (and at the end).")
    keep_checkpoints: int = setting(2, True, "Checkpoints kept on disk.", aliases=("save_total_limit",))
    log_steps: int = setting(1, True, "Log every N steps.", aliases=("logging_steps",))
    report_to: str = setting("none", True, "Experiment trackers, comma-separated: tensorboard, wandb, mlflow, or none "
                             "(as HF Trainer's report_to; the tracking extra installs them).")
    seed: int = setting(42, True, "Seed for the model init of new heads, data order and packing.")
    max_samples: int | None = setting(None, True, "Use only the first N rows (debugging).")
    save_dtype: str = setting("bf16", True, "Dtype of the final weights: bf16, fp16 or fp32.")
    resume: bool = setting(False, True, "Continue from the latest checkpoint in OUTPUT/checkpoints.",
                           near={"resume_from_checkpoint": "resume: true continues from the latest checkpoint in "
                                 "OUTPUT/checkpoints"})

    def __post_init__(self):
        if isinstance(self.data, str):  # a single set, as before mixtures
            self.data = [self.data]

    @property
    def data_specs(self) -> list[str]:
        """The mixture as given, or the branch's default folder."""
        return list(self.data) or [f"out/{self.branch}"]

    @property
    def data_path(self) -> str:
        """The mixture in one line (messages and the card's title)."""
        return " + ".join(self.data_specs)

    @property
    def output_dir(self) -> Path:
        return Path(self.output or f"runs/{self.branch}")


def _preset(branch: str) -> tuple[str, dict]:
    """``(label, settings)`` of the branch's preset: a shipped file or the domain's own mapping."""
    preset = get_domain(branch).training_preset
    if isinstance(preset, str):
        return f"preset {preset}.yaml: ", load_mapping(PRESETS_DIR / f"{preset}.yaml", "preset")
    return f"preset of domain {branch}: ", dict(preset)


def build_train_config(branch: str, config_file: str | None = None, overrides: dict | None = None, *,
                       launcher: dict | None = None) -> TrainConfig:
    """Preset of ``branch`` < ``config_file`` < ``launcher`` (what ``accelerate launch`` asked for,
    ``training.parallel.launchers``) < ``overrides``; every problem reported at once."""
    problems: list[str] = []
    if not isinstance(branch, str) or branch not in DOMAINS:
        raise ConfigError([f"branch: must be one of {', '.join(DOMAINS)}, got {branch!r}"])
    layers = [_preset(branch)]
    if config_file:
        layers.append((f"{config_file}: ", load_mapping(Path(config_file), "config")))
    if launcher:
        layers.append(("accelerate launch: ", launcher))
    layers.append(("option --", {k: v for k, v in (overrides or {}).items() if v is not None}))
    cfg = TrainConfig(branch=branch)
    for where, values in layers:
        values = {str(k).replace("-", "_"): v for k, v in values.items()}
        set_fields(cfg, values, problems, label=lambda k, w=where: f"{w}{k}",
                   unknown=lambda k, w=where: f"{w}unknown setting {k!r}")
    if cfg.branch != branch:  # a layer that names another branch
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
    for name, allowed in (("attn_implementation", ATTENTION), ("loss", LOSSES), ("overlong", OVERLONG),
                          ("train_on", TRAIN_ON)):
        if getattr(c, name) not in allowed:
            p.append(f"{name}: must be one of {', '.join(allowed)}, got {getattr(c, name)!r}")
    p += parse_report_to(c.report_to)[1]
    if isinstance(c.loss_tile_tokens, int) and c.loss_tile_tokens < 0:
        p.append(f"loss_tile_tokens: must be 0 (auto) or positive, got {c.loss_tile_tokens}")
    if c.sequence_parallel != 1 and c.attn_implementation in ("sdpa", "eager"):
        p.append(f"sequence_parallel: needs attn_implementation auto, sdpa_varlen or flash_attention_2, not "
                 f"{c.attn_implementation!r} (an L x L mask cannot be split)")
    for name in ("epochs", "global_batch", "micro_batch", "cutoff", "save_steps", "log_steps", "keep_checkpoints",
                 "sequence_parallel"):
        v = getattr(c, name)
        if isinstance(v, int) and v < 1:
            p.append(f"{name}: must be at least 1, got {v}")
    for name in ("max_steps", "max_samples"):
        v = getattr(c, name)
        if isinstance(v, int) and v < 1:
            p.append(f"{name}: must be at least 1, got {v}")
    if isinstance(c.data, list):
        p += [problem for spec in c.data if (problem := parse_spec(spec)[1])]
    if c.freeze is not None:
        try:
            re.compile(c.freeze)
        except (re.error, TypeError) as e:
            p.append(f"freeze: not a regular expression ({e}): {c.freeze!r}")
    if isinstance(c.lr, float) and not 0 < c.lr < 1:
        p.append(f"lr: must be in (0, 1), got {c.lr}")
    if isinstance(c.warmup_ratio, float) and not 0 <= c.warmup_ratio < 1:
        p.append(f"warmup_ratio: must be in [0, 1), got {c.warmup_ratio}")
    return p

