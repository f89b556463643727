"""Execute a merge plan step by step through mergekit, in process.

mergekit reads one tensor at a time from each input (lazy loading) and writes the output shard
by shard, so memory stays near the size of a few tensors, not of the models. Intermediate step
outputs go to ``<out>.steps/<step>`` (removed after the last step); the last step writes ``<out>``
(``merge.destination`` decides what may be written and replaced),
which then gets the resolved plan and a card with each input's provenance. ``--dry-run`` prints
one mergekit document per step, each with the ``mergekit-yaml`` command that runs it where
``merge`` would, so the steps can also be run by hand.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import yaml

from curation import require
from merge.checks import check_inputs
from merge.destination import claim, destination_problems, release
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


def config_file_name(index: int, step_name: str) -> str:
    return f"{index + 1:02d}-{step_name}.yaml"


def mergekit_command(config: Path, target: Path, seed: int, device: str) -> str:
    """The ``mergekit-yaml`` command that runs one step as ``merge`` does (same seed and device)."""
    return f"mergekit-yaml {shlex.quote(str(config))} {shlex.quote(str(target))} --random-seed {seed} --device {device}"


def mergekit_documents(steps: list[tuple], *, seed: int, device: str, folder: str | Path | None) -> list[tuple]:
    """``(file, YAML document)`` per step: a comment with the step's ``mergekit-yaml`` command, then
    its configuration. Each step writes where the next one reads (``<out>.steps/<step>``; the
    last writes ``<out>``), so running the commands in order builds what ``merge`` builds."""
    where = Path(folder).expanduser().resolve() if folder is not None else None
    docs = []
    for i, (step, _, _, target, cfg) in enumerate(steps):
        name = config_file_name(i, step.name)
        path = where / name if where else Path(name)
        saved = f"written to {path}" if where else f"save this document as {name}"
        head = (f"# step {i + 1}/{len(steps)} {step.name} ({step.method}); {saved}; run:\n"
                f"#   {mergekit_command(path, target, seed, device)}\n")
        docs.append((path, head + yaml.safe_dump(cfg, sort_keys=False)))
    return docs


def run_plan(plan: Plan, inputs: dict[str, str | Path], out: str | Path, *, dry_run: bool = False,
             configs_dir: str | Path | None = None, seed: int = 0, device: str = "cpu", overwrite: bool = False,
             card_sections: dict[str, str] | None = None, log=print) -> dict:
    """Merge ``inputs`` by ``plan`` into ``out``: a new or empty folder, or with ``overwrite`` one an
    earlier merge made (``merge.destination``); nothing else is ever deleted. ``card_sections``:
    further sections of the card (title -> markdown), e.g. the search that chose the plan."""
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
        docs = mergekit_documents(steps, seed=seed, device=device, folder=configs_dir)
        log("\n---\n".join(doc for _, doc in docs))
        if configs_dir is not None:
            Path(configs_dir).mkdir(parents=True, exist_ok=True)
            for path, doc in docs:
                path.write_text(doc)
        commands = [mergekit_command(path, row[3], seed, device) for (path, _), row in zip(docs, steps, strict=True)]
        return {"plan": plan.name, "dry_run": True, "steps": [s[-1] for s in steps], "commands": commands}
    problems = destination_problems(out, {k: inputs[k] for k in plan.inputs()}, overwrite)
    problems += check_inputs({k: inputs[k] for k in plan.inputs()})
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
    claim(out, {"plan": plan.name})
    if len(steps) > 1:
        claim(Path(f"{out}.steps"), {"plan": plan.name, "intermediate_of": str(out)})
    for step, _, _, target, cfg in steps:
        t0 = time.perf_counter()
        log(f"merge: step {step.name} ({step.method}) -> {target}")
        run_merge(MergeConfiguration.model_validate(cfg), out_path=str(target), options=options)
        timings.append({"step": step.name, "method": step.method, "seconds": round(time.perf_counter() - t0, 2)})
    summary = {"plan": plan.name, "dtype": plan.dtype, "steps": timings,
               "inputs": {k: str(v) for k, v in inputs.items()}}
    (out / "merge_plan.yaml").write_text(yaml.safe_dump({"plan": plan.name, "dtype": plan.dtype, "steps": [
        {"name": s.name, "mergekit": cfg} for s, *_, cfg in steps]}, sort_keys=False))
    (out / "merge_summary.json").write_text(json.dumps(summary, indent=1))
    _card(plan, inputs, out, summary, card_sections)
    if len(steps) > 1:
        release(Path(f"{out}.steps"))
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


def _hub_base(path: Path, info: dict) -> str | None:
    """The Hub id of the student an expert came from: its own card's ``base_model`` (decided where
    the student's path meant something), else the recorded student reference."""
    card = path / "README.md"
    if card.exists() and card.read_text().startswith("---\n"):
        header = yaml.safe_load(card.read_text().split("\n---", 1)[0][4:]) or {}
        base = header.get("base_model")
        return base if isinstance(base, str) else None
    return info.get("base_model")


def _card(plan: Plan, inputs: dict[str, Path], out: Path, summary: dict, sections: dict[str, str] | None) -> None:
    from data_cards import render_model_card

    prov = {name: _provenance(p) for name, p in inputs.items()}
    bases = sorted({b for name, p in inputs.items() if (b := _hub_base(p, prov[name]))})
    render_model_card(out, kind="merge", title=f"Branch-Merge model ({plan.name} plan)",
                      base_model=bases or [str(p) for p in inputs.values()], inputs=prov,
                      settings={"plan": plan.name, "dtype": plan.dtype,
                                "steps": [{"name": s.name, "method": s.method, "base": s.base, "models": s.models,
                                           "parameters": s.parameters} for s in plan.steps]},
                      metrics={f"seconds_{t['step']}": t["seconds"] for t in summary["steps"]}, sections=sections)
