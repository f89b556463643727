"""The ``train`` command: ``train --branch science --model PATH [--data DIR_OR_ID] [--output DIR]``.

Flags come from ``TrainConfig``; the branch preset (``training/presets/<branch>.yaml``) and an
optional ``--config`` YAML set the rest. Under a launcher (torchrun, deepspeed) every rank runs it.
"""

from __future__ import annotations

import sys
import typing

import click

from curation.config import ConfigError, leaf_type
from training.config import BRANCHES, TrainConfig, build_train_config, flag_fields

_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING}


def _options(func):
    for f in reversed(flag_fields()):
        hint, _ = leaf_type(TrainConfig, f.name)
        name = "--" + f.name.replace("_", "-")
        if hint is bool:
            func = click.option(f"{name}/--no-{name[2:]}", f.name, default=None, help=f.metadata["help"])(func)
        else:
            func = click.option(name, f.name, type=_TYPES[hint], default=None, help=f.metadata["help"])(func)
    return func


def _fail(problems: list[str]) -> typing.NoReturn:
    for p in problems:
        click.echo(f"train: error: {p}", err=True)
    sys.exit(2)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--branch", type=click.Choice(BRANCHES), required=True, help="Which expert to train (its preset).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="YAML of settings over the preset (flags override it).")
@click.option("--print-config", is_flag=True, help="Print the resolved settings and exit.")
@_options
def main(branch, config_file, print_config, **overrides):
    """Train one Branch-Merge expert: full fine-tuning under DeepSpeed ZeRO on a curated set."""
    import warnings

    # torch.distributed's deprecation notices repeat on every step and say nothing about the run
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.distributed")
    try:
        cfg = build_train_config(branch, config_file, overrides)
    except ConfigError as exc:
        _fail(exc.problems)
    if print_config:
        import dataclasses

        import yaml

        click.echo(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
        return
    from curation.optional import MissingExtra

    try:
        from training.loop import train

        summary = train(cfg)
    except MissingExtra as exc:
        _fail([str(exc)])
    except (OSError, ValueError) as exc:  # missing model or data, unreadable files: one line
        _fail([str(exc).splitlines()[0] if str(exc) else type(exc).__name__])
    if summary and summary.get("first_loss") is not None:
        click.echo(f"trained {summary['steps']} steps: loss {summary['first_loss']:.4f} -> {summary['last_loss']:.4f}; "
                   f"model saved to {cfg.output_dir}", err=True)


if __name__ == "__main__":
    main()
