"""What a recipe run shows: WORK/results.json and the run's card WORK/README.md.

``results.json``: ``{"recipe", "models": {MODEL: {BENCHMARK: pass@1}}, "search": [rows], "chosen",
"gains", "seconds"}``: the test pass@1 of every evaluated model (the student is ``base``), the merge
search's rows (dev pass@1 and normalised gains, when the recipe searched), per expert the gain on
its own domain and the share of it the merged model kept, and the time of each step. The card puts
the same in the paper's Table 1 shape, with a plot and the search table.
"""

from __future__ import annotations

import json
from pathlib import Path

from merge.recipe import Recipe
from merge.search import kept_share


def _domain(recipe: Recipe, benchmark: str) -> str | None:
    if benchmark in recipe.benchmarks:
        return recipe.benchmarks[benchmark].domain
    from evaluation import BENCHMARKS

    return BENCHMARKS[benchmark].domain if benchmark in BENCHMARKS else None


def model_scores(recipe: Recipe, work: Path) -> dict[str, dict[str, float | None]]:
    """``{model: {benchmark: pass@1}}`` of the evaluations that finished (the student as ``base``)."""
    ev = recipe.evaluate
    out = {}
    for model in ev.models:
        folder = work / "eval" if ev.models == ["merged"] else work / "eval" / model
        path = folder / "results.json"
        if path.exists():
            benchmarks = json.loads(path.read_text())["benchmarks"]
            out["base" if model == "student" else model] = {b: benchmarks[b].get("pass@1") for b in ev.benchmarks
                                                           if b in benchmarks}
    return out


def kept_gains(recipe: Recipe, models: dict[str, dict[str, float | None]]) -> list[dict]:
    """Per expert and benchmark of its own domain: the base's, the expert's and the merged model's
    pass@1, the expert's gain and the share of it the merged model kept."""
    rows = []
    if "base" not in models or "merged" not in models:
        return rows
    for branch in recipe.branches.values():
        if branch.name not in models or branch.name not in recipe.merged_experts():
            continue
        for bench in models[branch.name]:
            if _domain(recipe, bench) != branch.preset:
                continue
            base, expert, merged = models["base"].get(bench), models[branch.name][bench], models["merged"].get(bench)
            if None in (base, expert, merged):
                continue
            rows.append({"expert": branch.name, "benchmark": bench, "base": base, "expert_score": expert,
                         "merged": merged, "gain": round(expert - base, 4), "kept": kept_share(base, expert, merged)})
    return rows


def step_seconds(work: Path, steps) -> dict[str, float | None]:
    """Seconds each step took when it last ran (from its marker)."""
    out = {}
    for step in steps:
        marker = work / ".steps" / f"{step.name}.json"
        out[step.name] = json.loads(marker.read_text()).get("seconds") if marker.exists() else None
    return out


def write_run_report(recipe: Recipe, work: Path, steps, wall_seconds: float) -> dict:
    models = model_scores(recipe, work)
    search_file = work / "merged" / "search.json"
    search = json.loads(search_file.read_text()) if search_file.exists() else None
    seconds = step_seconds(work, steps)
    report = {"recipe": recipe.name, "models": models, "search": search["rows"] if search else [],
              "chosen": search["chosen"] if search else recipe.plan, "rule": search["rule"] if search else None,
              "gains": kept_gains(recipe, models),
              "seconds": {"this_invocation": round(wall_seconds, 1), "steps": seconds,
                          "steps_total": round(sum(s for s in seconds.values() if s), 1)}}
    (work / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    (work / "README.md").write_text(run_card(recipe, work, report, search))
    return report


def run_card(recipe: Recipe, work: Path, report: dict, search: dict | None) -> str:
    from data_cards import score_bars
    from evaluation import markdown_table

    models = report["models"]
    text = f"# Branch-Merge run: {recipe.name}\n\n{recipe.description.strip()}\n\n"
    text += "## Test pass@1 (the paper's Table 1 in shape)\n\n"
    text += markdown_table({m: {b: {"pass@1": v} for b, v in scores.items()} for m, scores in models.items()})
    if models:
        score_bars(models, work / "plots" / "pass_at_1.png", "Test pass@1 per benchmark")
        text += "\n![Test pass@1 of each model per benchmark](plots/pass_at_1.png)\n"
    if report["gains"]:
        text += ("\n## What the merge kept\n\nPer expert, on the test set of its own domain: its gain over the base "
                 "and the share of that gain the merged model kept.\n\n"
                 "| expert | benchmark | base | expert | merged | gain | kept |\n|---|---|---:|---:|---:|---:|---:|\n")
        for g in report["gains"]:
            kept = "-" if g["kept"] is None else f"{g['kept']:.2f}"
            text += (f"| {g['expert']} | {g['benchmark']} | {100 * g['base']:.1f} | {100 * g['expert_score']:.1f} | "
                     f"{100 * g['merged']:.1f} | {100 * g['gain']:+.1f} | {kept} |\n")
    if search:
        from merge.search import search_table

        text += (f"\n## Merge search (dev sets only)\n\nChosen: **{search['chosen']}**.\n\n"
                 + search_table(search["rows"], search["chosen"], list(search["dev"])))
    secs = report["seconds"]
    text += "\n## Time\n\n| step | seconds |\n|---|---:|\n" + "".join(
        f"| {name} | {'-' if s is None else f'{s:.0f}'} |\n" for name, s in secs["steps"].items())
    text += (f"\nSteps in total: {secs['steps_total']:.0f} s; this invocation of `branch-merge run`: "
             f"{secs['this_invocation']:.0f} s (steps it skipped as done are not in it).\n\n"
             "Every step's command and output: `logs/STEP.log`; `branch-merge run RECIPE --work WORK --dry-run` "
             "prints them all.\n")
    return text
