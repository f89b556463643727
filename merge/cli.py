"""The ``merge`` command: ``merge --plan tinyr1 --math M --code C --science S --out DIR``.

One ``--NAME`` option per registered domain (its expert); the other options come from
``MergeConfig``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import click

from curation import DOMAINS, Flags, MissingExtra, fail, setting
from merge.plan import PLANS, PlanError, load_plan

DTYPES = ("bfloat16", "float16", "float32")


@dataclass
class MergeConfig:
    plan_name: str = setting("tinyr1", "--plan", f"A shipped plan ({', '.join(PLANS)}) or a plan YAML file.")
    base: str | None = setting(None, True, "The student the experts came from (TIES / DARE plans).", metavar="PATH")
    models: dict[str, str] = setting({}, "--model", "Any other ${NAME} of a plan.", multiple=True,
                                     metavar="NAME=PATH")
    out: str | None = setting(None, True, "Output folder for the merged model: new or empty, or one an earlier merge "
                              "made (with --overwrite). Nothing else is ever replaced.", required=True, metavar="PATH")
    overwrite: bool = setting(False, True, "Replace the output of an earlier merge in --out.", is_flag=True)
    dtype: str | None = setting(None, True, "Override the plan's dtype.")
    dry_run: bool = setting(False, True, "Print one mergekit YAML document per step (---), each with the "
                            "mergekit-yaml command that runs it, and exit.", is_flag=True)
    write_configs: str | None = setting(None, True, "With --dry-run: also write each step's document to "
                                        "DIR/NN-<step>.yaml (the commands then name those files).", metavar="DIR")
    seed: int = setting(0, True, "Seed (Arcee Fusion samples quantiles of big tensors).")
    device: str = setting("cpu", True, "Where mergekit computes (cpu, cuda).")


_NAMES = [f.name for f in dataclasses.fields(MergeConfig)]
# two groups only so that --help lists the experts right after --plan
PLAN_FLAGS = Flags(show_defaults=True).add(MergeConfig, only=_NAMES[:1])
OTHER_FLAGS = Flags(show_defaults=True).add(MergeConfig, only=_NAMES[1:], choices={"dtype": lambda: DTYPES})
EXPERTS = list(DOMAINS)  # the domains registered when the command was built


def expert_options(func):
    for name in reversed(EXPERTS):
        func = click.option(f"--{name}", name, type=click.Path(), help=f"The {name} expert (folder).")(func)
    return func


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@PLAN_FLAGS
@expert_options
@OTHER_FLAGS
def main(**options):
    """Merge branch experts with a plan of mergekit steps (default: the TinyR1 Arcee Fusion chain)."""
    from merge.execute import run_plan

    plan_given, _ = PLAN_FLAGS.values(options)
    given, problems = OTHER_FLAGS.values(options)  # click typed them; only NAME=PATH items can be bad
    if problems:
        fail("merge", problems)
    cfg = MergeConfig(**plan_given, **given)
    inputs = {name: options[name] for name in EXPERTS if options[name]}
    inputs.update({"base": cfg.base} if cfg.base else {})
    inputs.update(cfg.models)
    try:
        plan = load_plan(cfg.plan_name)
        plan.dtype = cfg.dtype or plan.dtype
        if cfg.write_configs and not cfg.dry_run:
            raise PlanError(["--write-configs: only with --dry-run"])
        summary = run_plan(plan, inputs, cfg.out, dry_run=cfg.dry_run, configs_dir=cfg.write_configs,
                           seed=cfg.seed, device=cfg.device, overwrite=cfg.overwrite,
                           log=lambda m: click.echo(m, err=not cfg.dry_run))
    except PlanError as exc:
        fail("merge", exc.problems)
    except MissingExtra as exc:
        fail("merge", [str(exc)])
    if not cfg.dry_run:
        total = sum(s["seconds"] for s in summary["steps"])
        click.echo(f"merged with plan {plan.name} in {total:.1f} s -> {cfg.out}", err=True)


if __name__ == "__main__":
    main()
