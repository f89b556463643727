"""Training one Branch-Merge expert: a thin DeepSpeed (ZeRO-2/3) SFT trainer.

Public surface: the config (``TrainConfig``, ``build_train_config``, ``PRESETS_DIR``), the data
pieces (``tokenize_conversation``, ``tokenize_rows``), packing (``epoch_bins``, ``collate``,
``StepPlan``), the loss helpers and ``build_ds_config``. ``train`` (in ``training.loop``)
imports torch and deepspeed, so it is imported where used.
"""

from training.config import PRESETS_DIR, TrainConfig, TrainConfigError, build_train_config
from training.conversation import TokenizedSet, tokenize_conversation, tokenize_rows
from training.parallel.ds_config import build_ds_config, split_batch
from training.packing import IGNORE, StepPlan, collate, epoch_bins, first_fit_decreasing


def train(cfg: TrainConfig, **kwargs) -> dict:
    from training.loop import train as _train

    return _train(cfg, **kwargs)


__all__ = ["PRESETS_DIR", "TrainConfig", "TrainConfigError", "build_train_config", "TokenizedSet",
           "tokenize_conversation", "tokenize_rows", "build_ds_config", "split_batch", "IGNORE", "StepPlan",
           "collate", "epoch_bins", "first_fit_decreasing", "train"]
