"""Execute a merge plan step by step through mergekit, in process.

mergekit reads one tensor at a time from each input (lazy loading) and writes the output shard
by shard, so memory stays near the size of a few tensors, not of the models. Intermediate step
outputs go to ``<out>.steps/<step>``; the last step writes ``<out>``, which then gets the
resolved plan and a card with each input's provenance.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import yaml

from curation import require
from merge.checks import check_inputs
from merge.plan import Plan, PlanError, mergekit_config, resolve

# Output shards are flushed at this size: the writer holds at most one shard in memory.
SHARD_BYTES = 256 * 1024**2


def resolved_steps(plan: Plan, inputs: dict[str, Path], out: Path) -> list[tuple]:
    """``(step, base, models, output, mergekit config)`` for every step, with paths resolved."""
    outputs: dict[str, Path] = {}
    rows = []
    for i, step in enumerate(plan.steps):
        target = out if i == len(plan.steps) - 1 else Path(f"{out}.steps") / step.name
        base = resolve(step.base, inputs, outputs) if step.base else None
        models = [resolve(m, inputs, outputs) for m in step.models]
        outputs[step.name] = target
        rows.append((step, base, models, target, mergekit_config(step, base, models, plan.dtype)))
    return rows


def run_plan(plan: Plan, inputs: dict[str, str | Path], out: str | Path, *, dry_run: bool = False,
             seed: int = 0, device: str = "cpu", log=print) -> dict:
    out = Path(out).expanduser().resolve()
    inputs = {k: Path(v).expanduser().resolve() for k, v in inputs.items()}
    missing = [k for k in plan.inputs() if k not in inputs]
    if missing:
        raise PlanError([f"plan {plan.name}: needs --{k.replace('_', '-')} (or --model {k}=PATH)" for k in missing])
    steps = resolved_steps(plan, inputs, out)
    for step, base, models, *_ in steps:
        paths = [p for p in [base, *models] if p is not None]
        if len(set(paths)) != len(paths):
            raise PlanError([f"step {step.name}: uses the same model twice ({', '.join(map(str, paths))})"])
    if dry_run:
        for step, *_, target, cfg in steps:
            log(f"# step {step.name} -> {target}\n{yaml.safe_dump(cfg, sort_keys=False)}")
        return {"plan": plan.name, "dry_run": True, "steps": [s[-1] for s in steps]}
    problems = check_inputs({k: inputs[k] for k in plan.inputs()})
    if problems:
        raise PlanError(problems)
    require("mergekit", "merge", "merge")
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions

    options = MergeOptions(lazy_unpickle=True, copy_tokenizer=True, random_seed=seed, quiet=True,
                           write_model_card=False, device=device, safe_serialization=True,
                           out_shard_size=SHARD_BYTES)
    timings = []
    for step, _, _, target, cfg in steps:
        t0 = time.perf_counter()
        log(f"merge: step {step.name} ({step.method}) -> {target}")
        if target.exists():
            shutil.rmtree(target)
        run_merge(MergeConfiguration.model_validate(cfg), out_path=str(target), options=options)
        timings.append({"step": step.name, "method": step.method, "seconds": round(time.perf_counter() - t0, 2)})
    summary = {"plan": plan.name, "dtype": plan.dtype, "steps": timings,
               "inputs": {k: str(v) for k, v in inputs.items()}}
    (out / "merge_plan.yaml").write_text(yaml.safe_dump({"plan": plan.name, "dtype": plan.dtype, "steps": [
        {"name": s.name, "mergekit": cfg} for s, *_, cfg in steps]}, sort_keys=False))
    (out / "merge_summary.json").write_text(json.dumps(summary, indent=1))
    _card(plan, inputs, out, summary)
    if len(steps) > 1:
        shutil.rmtree(f"{out}.steps", ignore_errors=True)
    return summary


def _provenance(path: Path) -> dict:
    info = {"path": str(path)}
    summary = path / "train_summary.json"
    config = path / "train_config.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        info.update(branch=s.get("branch"), steps=s.get("steps"), last_loss=s.get("last_loss"))
    if config.exists():
        c = json.loads(config.read_text())
        info.update(base_model=c.get("model"), data=c.get("data"))
    return info


def _card(plan: Plan, inputs: dict[str, Path], out: Path, summary: dict) -> None:
    from data_cards import render_model_card

    prov = {name: _provenance(p) for name, p in inputs.items()}
    bases = sorted({v["base_model"] for v in prov.values() if v.get("base_model")})
    render_model_card(out, kind="merge", title=f"Branch-Merge model ({plan.name} plan)",
                      base_model=bases or [str(p) for p in inputs.values()], inputs=prov,
                      settings={"plan": plan.name, "dtype": plan.dtype,
                                "steps": [{"name": s.name, "method": s.method, "base": s.base, "models": s.models,
                                           "parameters": s.parameters} for s in plan.steps]},
                      metrics={f"seconds_{t['step']}": t["seconds"] for t in summary["steps"]})
