"""Merge plans: a list of steps (method, base, models, parameters), each one mergekit run.

A plan is YAML (``merge/plans/*.yaml`` ship the reference plan and comparison plans). ``${name}``
stands for an input model given on the command line, ``${steps.NAME}`` for the output of an
earlier step; the last step's output is the merged model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PLANS_DIR = Path(__file__).parent / "plans"
PLANS = {p.stem: p for p in sorted(PLANS_DIR.glob("*.yaml"))}
# method -> (needs a base model, how many other models: (min, max or None))
METHODS = {"arcee_fusion": (True, (1, 1)), "linear": (False, (2, None)), "ties": (True, (1, None)),
           "dare_ties": (True, (1, None)), "task_arithmetic": (True, (1, None))}
DTYPES = ("bfloat16", "float16", "float32")
_REF = re.compile(r"^\$\{([A-Za-z0-9_.\-]+)\}$")


class PlanError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class PlanStep:
    name: str
    method: str
    models: list[str]
    base: str | None = None
    parameters: dict = field(default_factory=dict)


@dataclass
class Plan:
    name: str
    steps: list[PlanStep]
    dtype: str = "bfloat16"

    def inputs(self) -> list[str]:
        """Names of the ``${...}`` inputs the plan needs from the command line."""
        seen = []
        for s in self.steps:
            for ref in [s.base, *s.models]:
                m = _REF.match(ref or "")
                if m and not m.group(1).startswith("steps.") and m.group(1) not in seen:
                    seen.append(m.group(1))
        return seen


def load_plan(name_or_path: str) -> Plan:
    path = PLANS.get(name_or_path) or Path(name_or_path)
    if not path.is_file():
        raise PlanError([f"plan: no shipped plan named {name_or_path!r} and no such file "
                         f"(shipped: {', '.join(PLANS)})"])
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise PlanError([f"plan: {path} is not valid YAML"]) from None
    return parse_plan(data, str(path))


def parse_plan(data, origin: str = "plan") -> Plan:
    p: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        raise PlanError([f"{origin}: needs a non-empty 'steps' list"])
    steps, names = [], set()
    for i, raw in enumerate(data["steps"]):
        where = f"{origin}: step {i + 1}"
        if not isinstance(raw, dict):
            p.append(f"{where}: must be a mapping")
            continue
        unknown = set(raw) - {"name", "method", "base", "models", "parameters"}
        if unknown:
            p.append(f"{where}: unknown keys {sorted(unknown)}")
        name = str(raw.get("name") or f"step{i + 1}")
        method = raw.get("method")
        models = raw.get("models")
        if method not in METHODS:
            p.append(f"{where}: method must be one of {', '.join(METHODS)}, got {method!r}")
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            p.append(f"{where}: models must be a list of model references")
            models = []
        if method in METHODS:
            needs_base, (lo, hi) = METHODS[method]
            if needs_base and not raw.get("base"):
                p.append(f"{where}: {method} needs a base model")
            if len(models) < lo or (hi is not None and len(models) > hi):
                want = str(lo) if lo == hi else f"{lo}+" if hi is None else f"{lo}-{hi}"
                p.append(f"{where}: {method} takes {want} model(s) besides the base, got {len(models)}")
        for ref in [raw.get("base"), *models]:
            m = _REF.match(ref or "")
            if m and m.group(1).startswith("steps.") and m.group(1)[6:] not in names:
                p.append(f"{where}: {ref} is not the output of an earlier step")
        params = raw.get("parameters") or {}
        if not isinstance(params, dict):
            p.append(f"{where}: parameters must be a mapping")
            params = {}
        for key, value in params.items():  # a value per model: a mapping over exactly the step's models
            if isinstance(value, dict) and set(value) != set(models):
                p.append(f"{where}: parameters.{key} gives a value per model, so it needs exactly the step's models "
                         f"({', '.join(models)}), got {', '.join(map(str, value))}")
        names.add(name)
        steps.append(PlanStep(name, method, list(models), raw.get("base"), params))
    dtype = data.get("dtype", "bfloat16")
    if dtype not in DTYPES:
        p.append(f"{origin}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if p:
        raise PlanError(p)
    return Plan(str(data.get("name") or Path(origin).stem), steps, dtype)


def resolve(ref: str, inputs: dict[str, Path], outputs: dict[str, Path]) -> Path:
    m = _REF.match(ref)
    if not m:
        return Path(ref).expanduser().resolve()
    key = m.group(1)
    if key.startswith("steps."):
        return outputs[key[6:]]
    if key not in inputs:
        raise PlanError([f"plan: needs --{key.replace('_', '-')} (or --model {key}=PATH)"])
    return inputs[key]


def model_parameters(step: PlanStep, ref: str) -> dict:
    """A model's parameters in a step: a parameter given as a mapping (``weight: {${math}: 2,
    ${code}: 1}``) has a value per model reference, any other is the same for every model."""
    return {k: (v[ref] if isinstance(v, dict) else v) for k, v in step.parameters.items()}


def mergekit_config(step: PlanStep, base: Path | None, models: list[Path], dtype: str) -> dict:
    """The mergekit YAML of one step (absolute local paths, so mergekit never goes online)."""
    # dtype is what mergekit computes in; out_dtype what it stores (left unset, the stored tensors
    # follow the computation: float32 for arcee_fusion while config.json said bfloat16)
    cfg: dict = {"merge_method": step.method, "dtype": dtype, "out_dtype": dtype,
                 "models": [{"model": str(m), **({"parameters": model_parameters(step, ref)} if step.parameters
                                                 and step.method != "arcee_fusion" else {})}
                            for ref, m in zip(step.models, models, strict=True)]}
    if base is not None:
        cfg["base_model"] = str(base)
        if step.method in ("ties", "dare_ties", "task_arithmetic"):
            cfg["models"].insert(0, {"model": str(base)})
    if step.method == "arcee_fusion" and step.parameters:
        cfg["parameters"] = dict(step.parameters)
    if step.method == "linear":
        cfg["parameters"] = {"normalize": True}
    return cfg  # inputs are checked to share one tokenizer; mergekit copies the base's
