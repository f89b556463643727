"""What ``train`` checks before any process group or DeepSpeed engine starts: one line per problem.

The output folder: a fresh run goes into a new or empty folder only (an earlier run's checkpoints
would be rotated together with the new ones, and its log mixed with the new one); ``--resume``
continues the run in the folder, and refuses a checkpoint pointer that names a missing checkpoint.
Nothing in the folder is ever deleted to make room.
"""

from __future__ import annotations

from training.checkpoint import latest_tag
from training.config import TrainConfig

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
