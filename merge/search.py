"""``merge --search``: candidate plans scored on dev sets, one chosen by a stated rule.

Candidates (``candidate_plans``): the Arcee Fusion chain in every order of the experts (the first
fused onto the second, the result onto the third, ...; the paper's plan is ``fusion:math>science>code``),
TIES and DARE-TIES against the base, linear merges (uniform, and each expert weighted twice), and task
arithmetic (the base plus every expert's difference from it, whole and halved: ``TASK_SCALES``).
Each candidate is merged into ``OUT.search/NAME/model``, scored on the dev sets with ``evaluate``'s
machinery (generation, the domains' verifiers, pass@1) and its weights removed again; the base and
the experts are scored the same way. The dev set of a domain belongs to the expert of that name.

The rule (``RULE``): a candidate's normalised gain on domain d is
``(dev(candidate, d) - dev(base, d)) / (dev(expert d, d) - dev(base, d))``: 1 keeps the expert's whole
gain, 0 none of it. The chosen candidate has the largest minimum normalised gain over the domains
(every expert's gain kept as well as possible), ties broken by the larger mean, then by the order
of the candidates. A domain whose expert did not beat the base on its dev set has no gain to keep:
it is left out of the rule, and the table says so. Only dev sets are read; test sets never are.

The chosen plan is merged into OUT like ``merge --plan``; OUT gets ``search.json`` and its card the
search table. A re-run reuses each candidate's scores while its plan, its inputs' weights and the
dev settings are unchanged.
"""

from __future__ import annotations

import itertools
import json
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from curation import setting
from merge.destination import MARKER, claim, destination_problems, release
from merge.plan import Plan, PlanStep, load_plan

RULE = ("largest minimum over the domains of the normalised dev gain (candidate - base) / (expert - base), "
        "ties broken by the larger mean, then by candidate order; dev sets only")
FAMILIES = ("fusion_orders", "ties", "dare_ties", "linear_weights", "task_arithmetic")
# task arithmetic's scaling of each delta (lambda): whole, and halved (between the whole sum and the
# uniform average, which is every delta at 1/n)
TASK_SCALES = (1.0, 0.5)


@dataclass
class SearchConfig:
    candidates: str = setting(",".join(FAMILIES), "--candidates", "Candidates of --search, comma-separated: "
                              "fusion_orders (the Arcee Fusion chain in every order of the experts), ties, dare_ties, "
                              "linear_weights (uniform and each expert x2), task_arithmetic (the base plus every "
                              "expert's delta, whole and halved), or any plan name or file.")
    dev: dict[str, str] = setting({}, "--dev", "The dev set of an expert's domain (repeatable): what --search scores "
                                  "candidates on, never a test set.", multiple=True, metavar="DOMAIN=PATH")
    backend: str = setting("auto", "--dev-backend", "How dev answers are generated: auto (vllm where installed "
                           "with a GPU, else hf), hf, vllm.")
    max_tokens: int = setting(1024, "--dev-max-tokens", "Most new tokens per dev answer.")
    temperature: float = setting(0.0, "--dev-temperature", "Sampling temperature on the dev sets (0: greedy).")
    samples: int = setting(1, "--dev-samples", "Samples per dev problem (pass@1 is their mean).")


@dataclass
class Scored:
    name: str
    kind: str  # base, expert, candidate
    dev: dict[str, float] = field(default_factory=dict)  # domain -> pass@1
    gains: dict[str, float | None] = field(default_factory=dict)  # domain -> normalised gain (None: left out)
    plan: dict | None = None

    def row(self) -> dict:
        return {"name": self.name, "kind": self.kind, "dev": self.dev, "normalised_gain": self.gains,
                "min_gain": min_gain(self.gains), "mean_gain": mean_gain(self.gains), "plan": self.plan}


def fusion_chain(order: tuple[str, ...]) -> Plan:
    """Arcee Fusion of ``order[0]`` onto ``order[1]`` (as base), the result onto ``order[2]``, ..."""
    steps = [PlanStep(f"onto_{order[1]}", "arcee_fusion", [f"${{{order[0]}}}"], f"${{{order[1]}}}")]
    for name in order[2:]:
        steps.append(PlanStep(f"onto_{name}", "arcee_fusion", [f"${{steps.{steps[-1].name}}}"], f"${{{name}}}"))
    return Plan("fusion:" + ">".join(order), steps)


def candidate_plans(spec: str, experts: list[str]) -> list[Plan]:
    """The plans ``--candidates`` names, over the experts (a family expands to several plans)."""
    refs = [f"${{{e}}}" for e in experts]
    plans: list[Plan] = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        if item == "fusion_orders":
            plans += [fusion_chain(order) for order in itertools.permutations(experts)]
        elif item in ("ties", "dare_ties"):
            plans.append(Plan(item, [PlanStep(item, item, refs, "${base}", {"weight": 1.0, "density": 0.5})]))
        elif item == "linear_weights":
            plans.append(Plan("linear:uniform", [PlanStep("linear", "linear", refs, None, {"weight": 1.0})]))
            plans += [Plan(f"linear:{e}x2", [PlanStep("linear", "linear", refs, None, {"weight": {
                r: 2.0 if r == f"${{{e}}}" else 1.0 for r in refs}})]) for e in experts]
        elif item == "task_arithmetic":  # every expert's delta from the base, scaled and added (no normalising)
            plans += [Plan(item if scale == 1.0 else f"{item}:x{scale:g}", [PlanStep(item, item, refs, "${base}", {
                "weight": scale})]) for scale in TASK_SCALES]
        else:
            plans.append(load_plan(item))
    return plans


def normalised_gains(dev: dict[str, float], base: dict[str, float], experts: dict[str, dict[str, float]]
                     ) -> dict[str, float | None]:
    """Per domain: the share of the expert's dev gain over the base kept (None: the expert did not gain)."""
    return {d: kept_share(base[d], experts[d][d], dev[d]) for d in base}


def kept_share(base: float, expert: float, merged: float) -> float | None:
    """The share of the expert's gain over the base that the merged model kept (None: no gain)."""
    gain = expert - base
    return round((merged - base) / gain, 4) if gain > 0 else None


def min_gain(gains: dict[str, float | None]) -> float | None:
    known = [g for g in gains.values() if g is not None]
    return min(known) if known else None


def mean_gain(gains: dict[str, float | None]) -> float | None:
    known = [g for g in gains.values() if g is not None]
    return round(statistics.fmean(known), 4) if known else None


def choose(candidates: list[Scored]) -> Scored:
    """The candidate the rule picks (``RULE``)."""
    def key(item):
        i, c = item
        lo, mean = min_gain(c.gains), mean_gain(c.gains)
        return (lo if lo is not None else float("-inf"), mean if mean is not None else float("-inf"), -i)

    return max(enumerate(candidates), key=key)[1]


def _identity(path: Path) -> list:
    """What tells a model's weights apart between runs: each weight file's name, size and mtime."""
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in sorted(Path(path).glob("*.safetensors"))]


def _plan_dict(plan: Plan) -> dict:
    return {"name": plan.name, "dtype": plan.dtype, "steps": [
        {"name": s.name, "method": s.method, "base": s.base, "models": s.models, "parameters": s.parameters}
        for s in plan.steps]}


class Search:
    """One ``merge --search``: its folder ``OUT.search``, the dev settings and the inputs."""

    def __init__(self, cfg: SearchConfig, inputs: dict[str, Path], out: Path, *, seed: int, device: str, log=print):
        self.cfg, self.inputs, self.out, self.seed, self.device, self.log = cfg, inputs, out, seed, device, log
        self.folder = Path(f"{out}.search")
        self.domains = list(cfg.dev)

    def problems(self, overwrite: bool) -> list[str]:
        from curation import DOMAINS

        p = destination_problems(self.out, self.inputs, overwrite)
        if self.folder.is_dir() and any(self.folder.iterdir()) and not (self.folder / MARKER).exists():
            p.append(f"out: {self.folder} (the search's folder) is not empty and was not made by merge; choose "
                     "another --out (nothing there is deleted)")
        p += [f"--dev {d}: no domain {d!r} (known: {', '.join(DOMAINS)})" for d in self.domains if d not in DOMAINS]
        p += [f"--dev {d}: no expert --{d} to score it against" for d in self.domains if d not in self.inputs]
        p += [f"--dev {d}: file not found: {f}" for d, f in self.cfg.dev.items() if not Path(f).expanduser().exists()]
        if not self.domains:
            p.append("--search: give a dev set per expert (--dev DOMAIN=PATH)")
        if "base" not in self.inputs:
            p.append("--search: give --base (the student the experts came from: TIES, DARE-TIES and the gains need it)")
        return p

    def _score(self, name: str, model: Path, key: dict) -> dict[str, float]:
        """Dev pass@1 per domain of ``model``, reused from an earlier run with the same key."""
        from curation import TeacherConfig
        from evaluation import evaluate

        folder = self.folder / name
        saved = folder / "scores.json"
        if saved.exists() and json.loads(saved.read_text()).get("key") == key:
            return json.loads(saved.read_text())["dev"]
        c = self.cfg
        teacher = TeacherConfig(backend=c.backend, temperature=c.temperature, max_tokens=c.max_tokens, seed=0)
        files = {d: str(Path(f).expanduser().resolve()) for d, f in c.dev.items()}
        report = evaluate(str(model), self.domains, folder / "eval", teacher=teacher, samples=c.samples, files=files,
                          domains={d: d for d in self.domains}, log=lambda m: None)
        dev = {d: report["benchmarks"][d]["pass@1"] for d in self.domains}
        saved.write_text(json.dumps({"key": key, "dev": dev}, indent=1))
        return dev

    def run(self, plans: list[Plan], dtype: str | None) -> tuple[Plan, list[Scored]]:
        from merge.execute import run_plan

        if not (self.folder / MARKER).exists():
            claim(self.folder, {"search_of": str(self.out)})
        dev_key = {"dev": {d: [str(f), _identity_file(f)] for d, f in self.cfg.dev.items()},
                   "backend": self.cfg.backend, "max_tokens": self.cfg.max_tokens,
                   "temperature": self.cfg.temperature, "samples": self.cfg.samples}
        ident = {n: [str(p), _identity(p)] for n, p in self.inputs.items()}
        base = self._score("base", self.inputs["base"], {**dev_key, "model": ident["base"]})
        self.log(f"merge: search: base dev pass@1 {base}")
        experts = {}
        for d in self.domains:
            experts[d] = self._score(f"expert-{d}", self.inputs[d], {**dev_key, "model": ident[d]})
            self.log(f"merge: search: expert {d} dev pass@1 {experts[d]}")
        rows = [Scored("base", "base", base, normalised_gains(base, base, experts))]
        rows += [Scored(d, "expert", experts[d], normalised_gains(experts[d], base, experts)) for d in self.domains]
        scored = []
        for i, plan in enumerate(plans):
            plan.dtype = dtype or plan.dtype
            used = {n: ident[n] for n in plan.inputs()}
            key = {**dev_key, "plan": _plan_dict(plan), "inputs": used, "seed": self.seed}
            folder = self.folder / f"{i + 1:02d}-{_slug(plan.name)}"
            if not ((folder / "scores.json").exists()
                    and json.loads((folder / "scores.json").read_text()).get("key") == key):
                shutil.rmtree(folder, ignore_errors=True)  # answers of other weights must not be reused
                folder.mkdir(parents=True)
                run_plan(plan, self.inputs, folder / "model", seed=self.seed, device=self.device, overwrite=True,
                         log=lambda m: None)
            dev = self._score(folder.name, folder / "model", key)
            release(folder / "model")  # the weights: only the chosen plan is merged again, into OUT
            row = Scored(plan.name, "candidate", dev, normalised_gains(dev, base, experts), _plan_dict(plan))
            self.log(f"merge: search: [{i + 1}/{len(plans)}] {plan.name}: dev pass@1 {dev}, min normalised gain "
                     f"{min_gain(row.gains)}")
            scored.append(row)
        best = choose(scored)
        return plans[scored.index(best)], rows + scored


def _identity_file(path: str) -> list:
    p = Path(path).expanduser()
    return [p.stat().st_size, p.stat().st_mtime_ns]


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)


def search_table(rows: list[dict], chosen: str, domains: list[str]) -> str:
    """The search as a markdown table: dev pass@1 and normalised gain per domain, the rule's numbers."""
    head = ("| candidate | " + " | ".join(f"{d} dev" for d in domains) + " | "
            + " | ".join(f"{d} gain" for d in domains) + " | min gain | mean gain |")
    lines = [head, "|---|" + "---:|" * (2 * len(domains) + 2)]
    for r in rows:
        gains = [("-" if r["normalised_gain"].get(d) is None else f"{r['normalised_gain'][d]:.2f}") for d in domains]
        lo, mean = r["min_gain"], r["mean_gain"]
        name = f"**{r['name']}** (chosen)" if r["name"] == chosen and r["kind"] == "candidate" else (
            r["name"] if r["kind"] == "candidate" else f"{r['name']} ({r['kind']})")
        lines.append(f"| {name} | " + " | ".join(f"{100 * r['dev'][d]:.1f}" for d in domains) + " | "
                     + " | ".join(gains) + f" | {'-' if lo is None else f'{lo:.2f}'} | "
                     f"{'-' if mean is None else f'{mean:.2f}'} |")
    left_out = [d for d in domains if rows[0]["normalised_gain"].get(d) is None]
    note = (f"\nLeft out of the rule (the expert did not beat the base on its dev set): {', '.join(left_out)}.\n"
            if left_out else "")
    return "\n".join(lines) + "\n\nRule: " + RULE + ".\n" + note
