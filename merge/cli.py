"""The ``merge`` command: ``merge --plan tinyr1 --math M --code C --science S --out DIR``.

One ``--NAME`` option per registered domain (its expert); the other options come from
``MergeConfig``, and those of ``--search`` (candidate plans scored on dev sets) from
``merge.search.SearchConfig``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import click

from curation import DOMAINS, Flags, MissingExtra, fail, setting
from merge.plan import PLANS, PlanError, load_plan
from merge.search import SearchConfig

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
    search: bool = setting(False, True, "Choose the plan instead: merge every --candidates plan, score each on the "
                           "--dev sets (never a test set), keep the one with the largest minimum normalised gain "
                           "(merge.search); the search table goes into the card and search.json.", is_flag=True)


_NAMES = [f.name for f in dataclasses.fields(MergeConfig)]
# two groups only so that --help lists the experts right after --plan
PLAN_FLAGS = Flags(show_defaults=True).add(MergeConfig, only=_NAMES[:1])
OTHER_FLAGS = Flags(show_defaults=True).add(MergeConfig, only=_NAMES[1:], choices={"dtype": lambda: DTYPES})
SEARCH_FLAGS = Flags(show_defaults=True).add(SearchConfig, section="search",
                                             choices={"backend": lambda: ["auto", "hf", "vllm"]})
EXPERTS = list(DOMAINS)  # the domains registered when the command was built


def expert_options(func):
    for name in reversed(EXPERTS):
        func = click.option(f"--{name}", name, type=click.Path(), help=f"The {name} expert (folder).")(func)
    return func


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@PLAN_FLAGS
@expert_options
@OTHER_FLAGS
@SEARCH_FLAGS
def main(**options):
    """Merge branch experts with a plan of mergekit steps (default: the TinyR1 Arcee Fusion chain),
    or with --search the plan that keeps the experts' dev gains best."""
    from merge.execute import run_plan

    plan_given, _ = PLAN_FLAGS.values(options)
    given, problems = OTHER_FLAGS.values(options)  # click typed them; only NAME=PATH items can be bad
    search_given, bad = SEARCH_FLAGS.values(options)
    if problems or bad:
        fail("merge", problems + bad)
    cfg = MergeConfig(**plan_given, **given)
    inputs = {name: options[name] for name in EXPERTS if options[name]}
    inputs.update({"base": cfg.base} if cfg.base else {})
    inputs.update(cfg.models)
    if search_given and not cfg.search:
        fail("merge", [f"--{k.split('.')[1].replace('_', '-')}: only with --search" for k in search_given])
    if cfg.search:
        scfg = SearchConfig(**{k.split(".")[1]: v for k, v in search_given.items()})
        return search_command(cfg, scfg, inputs, plan_given)
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


def search_command(cfg: MergeConfig, scfg: SearchConfig, inputs: dict[str, str], plan_given: dict) -> None:
    import json
    import time
    from pathlib import Path

    from merge.execute import run_plan
    from merge.search import Search, candidate_plans, search_table

    problems = ["--plan: --search chooses the plan (give candidates with --candidates)"] if plan_given else []
    problems += [f"--{name}: not with --search" for name in ("dry_run", "write_configs") if getattr(cfg, name)]
    out = Path(cfg.out).expanduser().resolve()
    paths = {k: Path(v).expanduser().resolve() for k, v in inputs.items()}
    search = Search(scfg, paths, out, seed=cfg.seed, device=cfg.device,
                    log=lambda m: click.echo(m, err=True))
    problems += search.problems(cfg.overwrite)
    experts = [name for name in paths if name != "base"]
    try:
        plans = candidate_plans(scfg.candidates, experts)
    except PlanError as exc:
        problems += exc.problems
        plans = []
    if problems:
        fail("merge", problems)
    t0 = time.perf_counter()
    try:
        chosen, rows = search.run(plans, cfg.dtype)
        table = search_table([r.row() for r in rows], chosen.name, search.domains)
        run_plan(chosen, paths, out, seed=cfg.seed, device=cfg.device, overwrite=cfg.overwrite,
                 card_sections={"Merge search": f"Chosen plan: **{chosen.name}** of {len(plans)} candidates.\n\n"
                                + table}, log=lambda m: click.echo(m, err=True))
    except PlanError as exc:
        fail("merge", exc.problems)
    except MissingExtra as exc:
        fail("merge", [str(exc)])
    from merge.search import RULE

    (out / "search.json").write_text(json.dumps({"rule": RULE, "chosen": chosen.name, "dev": scfg.dev,
                                                 "settings": {"backend": scfg.backend, "max_tokens": scfg.max_tokens,
                                                              "temperature": scfg.temperature,
                                                              "samples": scfg.samples},
                                                 "rows": [r.row() for r in rows]}, indent=1))
    click.echo(table)
    click.echo(f"merge: search chose {chosen.name} of {len(plans)} candidates in {time.perf_counter() - t0:.1f} s "
               f"-> {out}", err=True)


if __name__ == "__main__":
    main()
