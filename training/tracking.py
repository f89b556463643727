"""Experiment tracking, as HF Trainer's ``report_to``: ``--report-to tensorboard,wandb,mlflow`` or
``none`` (the default). Rank 0 reports; every step's record (loss, lr, grad norm, tokens/s,
padding fraction) goes to each tracker, the run's settings at the start and its summary at the end.

- ``tensorboard``: event files under ``OUTPUT/tensorboard``.
- ``wandb``: a run named after the output folder in project ``$WANDB_PROJECT`` (default
  ``branch-merge``), files under ``OUTPUT``; ``WANDB_MODE=offline`` keeps it on disk.
- ``mlflow``: a run in experiment ``$MLFLOW_EXPERIMENT_NAME`` (default ``branch-merge``) at
  ``$MLFLOW_TRACKING_URI``, or in the SQLite store ``OUTPUT/mlflow.db`` when that is unset (MLflow 3
  no longer takes new runs in a plain folder store).

A requested tracker whose package is missing is a one-line error before training starts (the
``tracking`` extra installs all three).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # name -> module it needs
METRICS = ("loss", "lr", "grad_norm", "tokens_per_s", "padding_fraction")


def parse_report_to(value) -> tuple[list[str], list[str]]:
    """``(trackers, problems)`` from a comma-separated string or a list; ``none`` is no tracker."""
    items = value if isinstance(value, list) else str(value or "none").split(",")
    names = [str(v).strip().lower() for v in items if str(v).strip()]
    if names == ["none"]:
        return [], []
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        return [], [f"report_to: unknown {', '.join(unknown)}; choose from {', '.join(TRACKERS)} or none"]
    return list(dict.fromkeys(names)), []


def missing_trackers(names: list[str]) -> list[str]:
    return [f"report_to: {n} is not installed (pip install 'branch-merge[tracking]', or pip install {TRACKERS[n]})"
            for n in names if importlib.util.find_spec(TRACKERS[n]) is None]


class Trackers:
    """The requested trackers of one run (rank 0)."""

    def __init__(self, names: list[str], out: Path, settings: dict):
        self.names, self.out = names, out
        self._tb = self._wandb = self._mlflow = None
        run_name = out.resolve().name
        if "tensorboard" in names:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(out / "tensorboard"))
        if "wandb" in names:
            import wandb

            self._wandb = wandb.init(project=os.environ.get("WANDB_PROJECT", "branch-merge"), name=run_name,
                                     dir=str(out), config=_flat(settings), reinit="finish_previous")
        if "mlflow" in names:
            import mlflow

            if not os.environ.get("MLFLOW_TRACKING_URI"):
                mlflow.set_tracking_uri(f"sqlite:///{(out / 'mlflow.db').resolve()}")
            mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "branch-merge"))
            self._mlflow = mlflow
            mlflow.start_run(run_name=run_name)
            mlflow.log_params({k: str(v)[:500] for k, v in _flat(settings).items()})

    def log(self, record: dict) -> None:
        step = record["step"]
        metrics = {k: record[k] for k in METRICS if record.get(k) is not None}
        if self._tb:
            for k, v in metrics.items():
                self._tb.add_scalar(f"train/{k}", v, step)
        if self._wandb:
            self._wandb.log({f"train/{k}": v for k, v in metrics.items()}, step=step)
        if self._mlflow:
            self._mlflow.log_metrics(metrics, step=step)

    def finish(self, summary: dict) -> None:
        numbers = {k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self._tb:
            self._tb.close()
        if self._wandb:
            self._wandb.summary.update(numbers)
            self._wandb.finish()
        if self._mlflow:
            self._mlflow.log_metrics({f"summary_{k}": float(v) for k, v in numbers.items()})
            self._mlflow.end_run()


def _flat(settings: dict) -> dict:
    return {k: v if isinstance(v, (int, float, str, bool)) or v is None else str(v) for k, v in settings.items()}
