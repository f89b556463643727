"""The ``train`` command: ``train --branch science --model PATH [--data DIR_OR_ID] [--output DIR]``.

Flags come from ``TrainConfig``; the branch preset (the domain's ``training_preset``) and an
optional ``--config`` YAML set the rest. Under a launcher (torchrun, deepspeed, accelerate) every
rank runs it; ``training.parallel.launchers`` reads what the launcher asked for.
"""

from __future__ import annotations

import dataclasses
import os

import click

from curation import DOMAINS, ConfigError, Flags, MissingExtra, fail, registry_choice
from training.config import TrainConfig, build_train_config
from training.parallel.launchers import LAUNCH_FORMS, accelerate_settings, accumulation_problem, conflicts

FLAGS = Flags().add(TrainConfig, only=[f.name for f in dataclasses.fields(TrainConfig)
                                       if f.metadata.get("flag") and f.name != "branch"])


HELP = "Train one Branch-Merge expert: full fine-tuning under DeepSpeed ZeRO on a curated set.\n\n" + LAUNCH_FORMS


@click.command(help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--branch", type=registry_choice(lambda: DOMAINS), required=True,
              help="Which expert to train (its preset).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="YAML of settings over the preset (flags override it).")
@click.option("--print-config", is_flag=True, help="Print the resolved settings and exit.")
@click.option("--plan-memory", is_flag=True,
              help="Print the predicted memory per rank (weights, gradients, optimizer states, activations, loss, "
                   "attention) for these settings and exit; starts nothing.")
@click.option("--world-size", "world_sizes", default=None, metavar="N[,N...]",
              help="With --plan-memory: ranks (GPUs) to plan for, several separated by commas (8,16,32). "
                   "Default: the launcher's WORLD_SIZE, else 1.")
@click.option("--gpu-memory-gb", type=click.FloatRange(min=0, min_open=True), default=80.0, show_default=True,
              help="With --plan-memory: memory of one device in GiB.")
@click.option("--plan-device", type=click.Choice(["gpu", "cpu"]), default="gpu", show_default=True,
              help="With --plan-memory: plan for GPUs (bf16 under --precision auto) or a CPU run (fp32, gloo).")
# The DeepSpeed launcher appends --local_rank=N to every rank's command (and sets LOCAL_RANK).
@click.option("--local_rank", "--local-rank", "local_rank", type=int, default=None, hidden=True)
@FLAGS
def main(branch, config_file, print_config, plan_memory, world_sizes, gpu_memory_gb, plan_device, local_rank,
         **flags):
    import warnings

    # torch.distributed's deprecation notices repeat on every step and say nothing about the run
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.distributed")
    overrides, problems = FLAGS.values(flags)
    launched, refused = accelerate_settings(os.environ)
    problems += refused + conflicts(launched, overrides)
    if problems:
        fail("train", problems)
    try:
        cfg = build_train_config(branch, config_file, overrides, launcher=launched)
    except ConfigError as exc:
        fail("train", exc.problems)
    if problem := accumulation_problem(os.environ, cfg.global_batch, cfg.micro_batch):
        fail("train", [problem])
    if print_config:
        import yaml

        click.echo(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
        return
    if plan_memory:
        click.echo(memory_plan_table(cfg, world_sizes, gpu_memory_gb, plan_device))
        return
    try:
        from training.loop import train

        summary = train(cfg)
    except ConfigError as exc:  # found only once the model is loaded (e.g. --freeze names no parameter)
        fail("train", exc.problems)
    except MissingExtra as exc:
        fail("train", [str(exc)])
    except (OSError, ValueError) as exc:  # missing model or data, unreadable files: one line
        fail("train", [str(exc).splitlines()[0] if str(exc) else type(exc).__name__])
    if summary and summary.get("first_loss") is not None and os.environ.get("RANK", "0") == "0":
        click.echo(f"trained {summary['steps']} steps: loss {summary['first_loss']:.4f} -> {summary['last_loss']:.4f}; "
                   f"model saved to {cfg.output_dir}", err=True)


def memory_plan_table(cfg, world_sizes: str | None, gpu_memory_gb: float, device: str) -> str:
    """``--plan-memory``: the plan's table for each world size, or exit 2 with one line."""
    from training.memory_plan import load_shape, plan_memory, render

    text = world_sizes or os.environ.get("WORLD_SIZE", "1")
    try:
        worlds = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        fail("train", [f"world_size: give whole numbers separated by commas, got {text!r}"])
    if not worlds or min(worlds) < 1:
        fail("train", [f"world_size: give whole numbers of at least 1, got {text!r}"])
    try:
        shape = load_shape(cfg.model)
        plans = [plan_memory(shape, cfg, w, device=device, capacity_gib=gpu_memory_gb) for w in worlds]
    except ValueError as exc:
        fail("train", [str(exc)])
    return render(plans, shape)


if __name__ == "__main__":
    main()
