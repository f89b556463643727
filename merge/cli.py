"""The ``merge`` command: ``merge --plan tinyr1 --math M --code C --science S --out DIR``."""

from __future__ import annotations

import sys

import click

from merge.plan import PLANS, PlanError, load_plan


def _fail(problems: list[str]):
    for p in problems:
        click.echo(f"merge: error: {p}", err=True)
    sys.exit(2)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--plan", "plan_name", default="tinyr1", show_default=True,
              help=f"A shipped plan ({', '.join(PLANS)}) or a plan YAML file.")
@click.option("--math", type=click.Path(), help="The math expert (folder).")
@click.option("--code", type=click.Path(), help="The code expert (folder).")
@click.option("--science", type=click.Path(), help="The science expert (folder).")
@click.option("--base", type=click.Path(), help="The student the experts came from (TIES / DARE plans).")
@click.option("--model", "models", multiple=True, metavar="NAME=PATH", help="Any other ${NAME} of a plan.")
@click.option("--out", required=True, type=click.Path(), help="Output folder for the merged model.")
@click.option("--dtype", type=click.Choice(["bfloat16", "float16", "float32"]), default=None,
              help="Override the plan's dtype.")
@click.option("--dry-run", is_flag=True, help="Print the mergekit configuration of every step and exit.")
@click.option("--seed", default=0, show_default=True, help="Seed (Arcee Fusion samples quantiles of big tensors).")
@click.option("--device", default="cpu", show_default=True, help="Where mergekit computes (cpu, cuda).")
def main(plan_name, math, code, science, base, models, out, dtype, dry_run, seed, device):
    """Merge branch experts with a plan of mergekit steps (default: the TinyR1 Arcee Fusion chain)."""
    from merge.run import run_plan

    inputs = {k: v for k, v in {"math": math, "code": code, "science": science, "base": base}.items() if v}
    from curation.config import parse_pairs

    named, problems = parse_pairs(models, "--model")
    if problems:
        _fail(problems)
    inputs.update(named)
    from curation.optional import MissingExtra

    try:
        plan = load_plan(plan_name)
        plan.dtype = dtype or plan.dtype
        summary = run_plan(plan, inputs, out, dry_run=dry_run, seed=seed, device=device,
                           log=lambda m: click.echo(m, err=not dry_run))
    except PlanError as exc:
        _fail(exc.problems)
    except MissingExtra as exc:
        _fail([str(exc)])
    if not dry_run:
        total = sum(s["seconds"] for s in summary["steps"])
        click.echo(f"merged with plan {plan.name} in {total:.1f} s -> {out}", err=True)


if __name__ == "__main__":
    main()
