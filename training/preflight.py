"""What ``train`` checks before any process group or DeepSpeed engine starts (within seconds, one
line per problem): the output folder, the model, its tokenizer and chat template, the data.

The output folder: a fresh run goes into a new or empty folder only (an earlier run's checkpoints
would be rotated together with the new ones, and its log mixed with the new one); ``--resume``
continues the run in the folder, and refuses a checkpoint pointer that names a missing checkpoint.
Nothing in the folder is ever deleted to make room.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from curation import ref_problem, require
from training.checkpoint import latest_tag
from training.config import TrainConfig
from training.conversation import BadConversation, TokenizedSet, tokenize_conversation, tokenize_rows
from training.data import load_mixture
from training.parallel.launchers import world_from_mpi
from training.parallel.sequence_parallel import layout_problem
from training.tracking import missing_trackers, parse_report_to

RUN_FILES = ("train_config.json", "train_log.jsonl", "train_summary.json", "checkpoints")


def output_problem(cfg: TrainConfig) -> str | None:
    out = cfg.output_dir
    if not out.exists():
        return None
    if not out.is_dir():
        return f"output: {out} is a file, not a folder"
    ckpt = out / "checkpoints"
    if cfg.resume:
        tag = latest_tag(ckpt)
        if tag and not (ckpt / tag).is_dir():
            return (f"resume: {ckpt / 'latest'} names checkpoint {tag!r}, which is not there; "
                    f"point it at one of {sorted(p.name for p in ckpt.glob('step-*')) or 'the (none) saved'}")
        return None
    earlier = [name for name in RUN_FILES if (out / name).exists()] + [p.name for p in out.glob("model*.safetensors")]
    if earlier:
        return (f"output: {out} holds an earlier run ({', '.join(earlier)}); --resume continues it, "
                f"or give a new --output")
    if any(out.iterdir()):
        return f"output: {out} is not empty and holds no run of train; give a new or empty --output"
    return None


@dataclass
class Inputs:
    """What the checks loaded, kept for the run: the tokenizer, the tokenized data, the mixture and
    the model's text config."""

    tokenizer: object
    data: TokenizedSet
    mixture: list[dict]
    config: object


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_inputs(cfg: TrainConfig) -> Inputs:
    """Every input, in the order a user would fix them; raises ``ValueError`` with one line."""
    if problem := output_problem(cfg):
        raise ValueError(problem)
    if problems := missing_trackers(parse_report_to(cfg.report_to)[0]):
        raise ValueError(problems[0])
    if problem := ref_problem(cfg.model, "model"):
        raise ValueError(problem)
    transformers = require("transformers", "train", "train")
    try:
        config = transformers.AutoConfig.from_pretrained(cfg.model).get_text_config()
        tokenizer = transformers.AutoTokenizer.from_pretrained(cfg.model)
    except (OSError, ValueError) as exc:  # not a model folder, not in the cache while offline, private
        raise ValueError(f"model: cannot load {cfg.model}: {_first_line(exc)}") from None
    # the launcher's world (mpirun names it its own way); no launcher is a world of one
    world = int(os.environ.get("WORLD_SIZE") or world_from_mpi(os.environ).get("WORLD_SIZE", "1"))
    if problem := layout_problem(world, cfg.sequence_parallel, config.num_attention_heads, config.num_key_value_heads):
        raise ValueError(problem)
    rows, mixture = load_mixture(cfg.data_specs, cfg.seed, cfg.max_samples)
    for row in rows:  # the chat template on a real row: a template that fails, fails here
        try:
            tokenize_conversation(tokenizer, row.get("messages"), cfg.train_on)
            break
        except BadConversation:
            continue  # malformed rows are dropped and counted below
        except Exception as exc:  # jinja errors of the student's template
            raise ValueError(f"chat template of {cfg.model} fails on {cfg.data_path}: {_first_line(exc)}") from None
    data = tokenize_rows(rows, tokenizer, cfg.cutoff, train_on=cfg.train_on, overlong=cfg.overlong)
    if len(data) == 0:
        raise ValueError(f"data: no trainable samples in {cfg.data_path} (dropped: {dict(data.dropped)})")
    return Inputs(tokenizer, data, mixture, config)
