"""A Branch-Merge recipe: the whole method in one file.

For each branch, the curation runs (a domain with its recipe or source preset, a source, the
teacher, extra ``curate`` options) and the training mixture (curation runs by name, or any
folder or Hub id, each with ``*N`` or ``@N``) with the branch's preset and settings; then the
merge plan (or a search over plans, scored on dev sets) and the benchmarks to evaluate, on the
merged model or on any of the models the run makes. Optional: ``prepare`` steps that run before
everything (any ``python -m`` module, e.g. one that writes the sources or trains the student),
and ``benchmarks``, sets of one's own (a file and its domain) for evaluation and the search. Any
text may name the run's work folder as ``{work}``. ``merge/recipes/*.yaml`` ship the paper's
(``tinyr1``) and the miniature (``mini``); a user file with the same schema works the same. ``load_recipe`` checks
every section and raises ``ConfigError`` with all the problems at once. ``merge.recipe_runner`` turns
a recipe into the commands that carry it out.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from curation import DOMAINS, PRESETS, ConfigError, load_mapping, ref_problem, set_fields, setting
from merge.plan import PlanError, load_plan

RECIPES_DIR = Path(__file__).parent / "recipes"
RECIPES = {p.stem: p for p in sorted(RECIPES_DIR.glob("*.yaml"))}


@dataclass
class CurateRun:
    name: str | None = setting(None, None, "Names the run (its folder WORK/data/NAME); default the preset, "
                               "else the domain.")
    domain: str | None = setting(None, None, "The curate sub-command; default the branch.")
    recipe: str | None = setting(None, None, "A curation recipe YAML (relative to the recipe file).")
    preset: str | None = setting(None, None, "A source preset (curate presets).")
    source: str | None = setting(None, None, "A source file, folder or Hub dataset id.")
    teacher: str | None = setting(None, None, "Generation backend (curate --teacher).")
    teacher_model: str | None = setting(None, None, "The teacher model (curate --teacher-model).")
    args: list[str] = setting([], None, "Further curate options, as typed on the command line.")


@dataclass
class TrainStep:
    mixture: list[str] = setting([], None, "Curation runs by name, folders or Hub ids, each optionally *N or @N.")
    preset: str | None = setting(None, None, "The domain whose training preset is used; default the branch.")
    config: str | None = setting(None, None, "A train --config YAML (relative to the recipe file).")
    settings: dict = setting({}, None, "Train settings (flags of train), e.g. max_steps: 2.")


@dataclass
class PrepareStep:
    name: str | None = setting(None, None, "Names the step (prepare-NAME).")
    run: list[str] = setting([], None, "A module and its arguments, run as python -m MODULE ARGS.")
    out: str | None = setting(None, None, "What the step makes (a folder or file); the step is done when it "
                              "exists and the same command made it.")


@dataclass
class LocalBenchmark:
    domain: str | None = setting(None, None, "The domain whose fields and verifier read the set.")
    file: str | None = setting(None, None, "The set's rows (JSONL, JSON or Parquet).")


@dataclass
class MergeSearch:
    dev: dict[str, str] = setting({}, None, "Per expert's domain, the benchmark of this recipe it is scored on.")
    candidates: str | None = setting(None, None, "merge --candidates (default: all the families).")
    args: list[str] = setting([], None, "Further merge --search options (--dev-max-tokens ...).")


@dataclass
class Branch:
    name: str
    curate: list[CurateRun]
    train: TrainStep

    @property
    def preset(self) -> str:
        return self.train.preset or self.name


@dataclass
class EvaluateStep:
    benchmarks: list[str] = setting([], None, "Benchmarks of evaluate (or of this recipe's benchmarks).")
    models: list[str] = setting(["merged"], None, "Models evaluated: merged, student, any branch.")
    args: list[str] = setting([], None, "Further evaluate options.")


@dataclass
class Recipe:
    name: str
    branches: dict[str, Branch]
    plan: str = "tinyr1"
    merge_args: list[str] = field(default_factory=list)
    evaluate: EvaluateStep | None = None
    student: str | None = None
    description: str = ""
    prepare: list[PrepareStep] = field(default_factory=list)
    benchmarks: dict[str, LocalBenchmark] = field(default_factory=dict)
    search: MergeSearch | None = None
    jobs: int = 1  # curation, training or evaluation steps run at once (branch-merge run --jobs)

    def runs(self) -> dict[str, tuple[Branch, CurateRun]]:
        return {run.name: (b, run) for b in self.branches.values() for run in b.curate}

    def merged_experts(self) -> list[str]:
        """The branches whose experts the merge takes (the plan's inputs, or the search's)."""
        if self.search is not None:
            return list(self.search.dev)
        return [name for name in load_plan(self.plan).inputs() if name != "base"]


TOP_KEYS = {"name", "description", "student", "jobs", "prepare", "benchmarks", "branches", "merge", "evaluate"}
BRANCH_KEYS = {"curate", "train"}
MERGE_KEYS = {"plan", "args", "search"}
WORK = "{work}"  # the run's work folder, in any text of a recipe
RUNNER_SETS = {"model", "data", "output", "branch", "resume"}  # train settings the runner decides
_SET_REF = re.compile(r"^(.*?)(?:[*@]\d+)?$")  # a mixture entry without its *N / @N


def load_recipe(name_or_path: str) -> Recipe:
    """A shipped recipe by name or a recipe file, checked; ``ConfigError`` lists every problem."""
    path = RECIPES.get(name_or_path) or Path(name_or_path)
    if not path.is_file():
        raise ConfigError([f"recipe: no shipped recipe named {name_or_path!r} and no such file "
                           f"(shipped: {', '.join(RECIPES)})"])
    return parse_recipe(load_mapping(path, "recipe"), path.resolve().parent, path.stem)


def _section(cls, raw, where: str, problems: list[str], base: Path):
    """``raw`` (a mapping) coerced into ``cls``; relative file settings resolved against ``base``."""
    obj = cls()
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping")
        return obj
    set_fields(obj, raw, problems, label=lambda k: f"{where}.{k}", unknown=lambda k: f"{where}: unknown key {k!r}")
    for name in ("recipe", "config", "source", "file"):
        value = getattr(obj, name, None)
        if isinstance(value, str) and WORK not in value and (base / value).exists():
            setattr(obj, name, str((base / value).resolve()))
    return obj


def parse_recipe(data: dict, base: Path, default_name: str = "recipe") -> Recipe:
    p: list[str] = []
    p += [f"recipe: unknown key {k!r} (known: {', '.join(sorted(TOP_KEYS))})" for k in data if k not in TOP_KEYS]
    raw_branches = data.get("branches")
    if not isinstance(raw_branches, dict) or not raw_branches:
        p.append("branches: needs a mapping of branch names to {curate, train}")
        raw_branches = {}
    branches: dict[str, Branch] = {}
    for bname, raw in raw_branches.items():
        where = f"branches.{bname}"
        if not isinstance(raw, dict):
            p.append(f"{where}: must be a mapping with curate and train")
            continue
        p += [f"{where}: unknown key {k!r} (known: curate, train)" for k in raw if k not in BRANCH_KEYS]
        runs = raw.get("curate") or []
        if not isinstance(runs, list):
            p.append(f"{where}.curate: must be a list of curation runs")
            runs = []
        curate = [_section(CurateRun, r, f"{where}.curate[{i}]", p, base) for i, r in enumerate(runs)]
        for run in curate:
            run.domain = run.domain or bname
            run.name = run.name or run.preset or (Path(run.recipe).stem if run.recipe else run.domain)
        branches[str(bname)] = Branch(str(bname), curate, _section(TrainStep, raw.get("train", {}), f"{where}.train",
                                                                  p, base))
    merge = data.get("merge") or {}
    if not isinstance(merge, dict):
        p.append("merge: must be a mapping with plan (and args)")
        merge = {}
    p += [f"merge: unknown key {k!r} (known: plan, args)" for k in merge if k not in MERGE_KEYS]
    merge_args = merge.get("args") or []
    if not isinstance(merge_args, list) or not all(isinstance(a, str) for a in merge_args):
        p.append("merge.args: must be a list of texts")
        merge_args = []
    evaluate = _section(EvaluateStep, data["evaluate"], "evaluate", p, base) if data.get("evaluate") else None
    prepare = data.get("prepare") or []
    if not isinstance(prepare, list):
        p.append("prepare: must be a list of steps ({name, run, out})")
        prepare = []
    prepare = [_section(PrepareStep, raw, f"prepare[{i}]", p, base) for i, raw in enumerate(prepare)]
    benchmarks = data.get("benchmarks") or {}
    if not isinstance(benchmarks, dict):
        p.append("benchmarks: must be a mapping of names to {domain, file}")
        benchmarks = {}
    benchmarks = {str(n): _section(LocalBenchmark, raw, f"benchmarks.{n}", p, base) for n, raw in benchmarks.items()}
    search = _section(MergeSearch, merge["search"], "merge.search", p, base) if merge.get("search") else None
    jobs = data.get("jobs", 1)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        p.append(f"jobs: must be a whole number of at least 1, got {jobs!r}")
        jobs = 1
    recipe = Recipe(str(data.get("name") or default_name), branches, str(merge.get("plan") or "tinyr1"),
                    list(merge_args), evaluate, data.get("student"), str(data.get("description") or ""),
                    prepare, benchmarks, search, jobs)
    p += check_recipe(recipe)
    if p:
        raise ConfigError(p)
    return recipe


def check_recipe(r: Recipe) -> list[str]:
    """What cannot work: unknown domains, presets, benchmarks and plan inputs, mixtures naming
    nothing, train settings that ``train`` would refuse."""
    from training import TrainConfig, build_train_config

    p: list[str] = []
    seen: dict[str, str] = {}
    for i, step in enumerate(r.prepare):
        if not step.name or not step.run or not step.out:
            p.append(f"prepare[{i}]: needs name, run (a module and its arguments) and out")
    for name, bench in r.benchmarks.items():
        if bench.domain not in DOMAINS:
            p.append(f"benchmarks.{name}.domain: must be one of {', '.join(DOMAINS)}, got {bench.domain!r}")
        if not bench.file:
            p.append(f"benchmarks.{name}.file: give the set's file")
        elif WORK not in bench.file and not Path(bench.file).expanduser().exists():
            p.append(f"benchmarks.{name}.file: file not found: {bench.file}")
    for b in r.branches.values():
        where = f"branches.{b.name}"
        for i, run in enumerate(b.curate):
            at = f"{where}.curate[{i}]"
            if run.domain not in DOMAINS:
                p.append(f"{at}.domain: must be one of {', '.join(DOMAINS)}, got {run.domain!r}")
            if run.preset is not None and run.preset not in PRESETS:
                p.append(f"{at}.preset: must be one of {', '.join(PRESETS)}, got {run.preset!r}")
            if run.recipe is not None and not Path(run.recipe).is_file():
                p.append(f"{at}.recipe: file not found: {run.recipe}")
            if run.name in seen:
                p.append(f"{at}: the name {run.name!r} is also a run of {seen[run.name]} (give each run a name)")
            seen[run.name] = where
        if b.preset not in DOMAINS:
            p.append(f"{where}.train.preset: must be one of {', '.join(DOMAINS)} (the branch is no domain), "
                     f"got {b.preset!r}")
            continue
        if not b.train.mixture:
            p.append(f"{where}.train.mixture: name at least one curation run, folder or Hub id")
        fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
        settings = {}
        if not isinstance(b.train.settings, dict):
            p.append(f"{where}.train.settings: must be a mapping of train settings")
            b.train.settings = {}
        for key, value in b.train.settings.items():
            name = str(key).replace("-", "_")
            if name in RUNNER_SETS:
                p.append(f"{where}.train.settings.{key}: set by the runner (from the mixture, --student, --work)")
            elif name not in fields:
                p.append(f"{where}.train.settings: unknown setting {key!r}")
            elif not fields[name].metadata.get("flag"):
                p.append(f"{where}.train.settings.{key}: a file-only setting; put it in a train config file "
                         "(train.config)")
            else:
                settings[name] = value
        data = []
        for spec in b.train.mixture:
            ref = _SET_REF.match(spec)[1]
            if ref not in r.runs() and WORK not in ref and (
                    problem := ref_problem(ref, f"{where}.train.mixture", hub="Hub dataset id")):
                p.append(f"{problem}, nor a curation run of this recipe ({', '.join(r.runs()) or 'none'})")
            else:
                data.append(spec)
        try:
            build_train_config(b.preset, b.train.config, {**settings, "model": "STUDENT", "data": data})
        except ConfigError as exc:
            p += [f"{where}.train: {problem}" for problem in exc.problems]
    try:
        plan = load_plan(r.plan)
    except PlanError as exc:
        p += [f"merge.plan: {problem}" for problem in exc.problems]
    else:
        p += [f"merge.plan: {r.plan} needs ${{{name}}}, which is no branch of the recipe"
              for name in plan.inputs() if name != "base" and name not in r.branches]
    if r.evaluate is not None:
        from evaluation import BENCHMARKS

        if not r.evaluate.benchmarks:
            p.append("evaluate.benchmarks: name at least one benchmark")
        p += [f"evaluate.benchmarks: unknown {n!r} (known: {', '.join([*BENCHMARKS, *r.benchmarks])})"
              for n in r.evaluate.benchmarks if n not in BENCHMARKS and n not in r.benchmarks]
        p += [f"evaluate.models: unknown {m!r} (known: merged, student, {', '.join(r.branches)})"
              for m in r.evaluate.models if m not in ("merged", "student") and m not in r.branches]
    if r.search is not None:
        if not r.search.dev:
            p.append("merge.search.dev: name a dev benchmark of this recipe per expert (DOMAIN: BENCHMARK)")
        p += [f"merge.search.dev.{d}: {n!r} is none of this recipe's benchmarks ({', '.join(r.benchmarks) or 'none'})"
              for d, n in r.search.dev.items() if n not in r.benchmarks]
        p += [f"merge.search.dev: {d!r} is no branch of the recipe" for d in r.search.dev if d not in r.branches]
    return p
