"""``evaluate``: generate K samples per benchmark problem with a teacher backend, grade them with
the curation verifiers, report pass@1 (mean and std over the K runs) in the paper's table shape.

Every answer is committed to the response store as it arrives (``OUT/.responses`` by default, or
the folder ``responses`` names, e.g. the one curation uses), keyed by model, prompt, sampling
settings, seed and token limit: a killed run resumes, and a later run with more samples asks only
for the new ones. Answers you already have can be graded as they are: a ``generations.jsonl`` of
``Completion`` lines in ``OUT/<benchmark>/`` (what earlier versions wrote) is read first. The
graded samples go to ``OUT/<benchmark>/graded.jsonl``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from pathlib import Path

from curation import ResponseLog, RunProgress, TeacherConfig, VerifyConfig, verify_responses
from curation.teachers import Completion, GenRequest, LazyTeacher, ResponseStore, build_prompt, sample_seed
from evaluation.benchmarks import BENCHMARKS, Item, find_protocol, load_rows, select_rows, to_items
from evaluation.metrics import pass_at_1
from evaluation.paper import comparison_table

ORDER = ["aime24", "aime25", "math500", "gpqa_diamond", "livecodebench"]


def resolve_backend(backend: str) -> str:
    """``auto``: vllm where it is installed and a CUDA GPU is present, else hf; other names as given.
    (vLLM's CPU build needs CPU memory settings the vllm teacher does not pass yet, so on a machine
    without a GPU auto stays with hf even when vllm imports.)"""
    import importlib.util

    if backend != "auto":
        return backend
    if importlib.util.find_spec("vllm") is None or importlib.util.find_spec("torch") is None:
        return "hf"
    import torch

    return "vllm" if torch.cuda.is_available() else "hf"


def prompt_for(domain: str, item: Item, template: str | None) -> str:
    """The user message (the backend renders it with the model's chat template): the benchmark's
    own when it has one (LiveCodeBench), else the domain's prompt or ``template``."""
    if template is None and item.prompt is not None:
        return item.prompt
    if template is None and "final answer within" in item.problem:  # the row already carries the instruction
        template = "{problem}"
    return build_prompt(domain, item.problem, item.reference, template)


def evaluate(model: str, benchmarks: list[str], out_dir: str | Path, *, teacher: TeacherConfig | None = None,
             samples: int | None = None, files: dict[str, str] | None = None, fields: dict[str, str] | None = None,
             limit: int | None = None, sandbox: bool = True, verify_timeout_s: float = 10.0,
             workers: int | None = None, prompt: str | None = None, options: dict | None = None,
             responses: str | Path | None = None, domains: dict[str, str] | None = None, log=print,
             progress: RunProgress | None = None) -> dict:
    """``options``: benchmark settings (``lcb_window``, ``lcb_prompt``); ``responses``: the answer
    store's folder (default ``OUT/.responses``); ``domains``: the domain of each benchmark that is
    only a file in ``files`` (``evaluation.local_protocol``); ``progress``: where generation and
    grading report their counts (bars on a terminal, lines in a log file; none when not given)."""
    progress = progress or RunProgress(quiet=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tcfg = teacher or TeacherConfig(backend="hf", model=model)
    tcfg.model, tcfg.backend = model, resolve_backend(tcfg.backend)
    teacher_backend = LazyTeacher(tcfg)
    store = ResponseStore(Path(responses) if responses else out / ".responses", tcfg.answer_identity())

    results = {}
    for name in benchmarks:
        proto = find_protocol(name, domains)
        rows, selection = select_rows(proto, load_rows(proto, (files or {}).get(name)), options)
        if selection is not None and limit:
            rows, selection = rows[:limit], {**selection, "limited_to_first": min(limit, len(rows))}
        items = to_items(proto, rows, fields, limit, options)
        k = samples or proto.samples
        folder = out / name
        folder.mkdir(exist_ok=True)
        plan = [GenRequest(it.id, j, prompt_for(proto.domain, it, prompt), sample_seed(tcfg.seed, f"{name}:{it.id}", j))
                for it in items for j in range(k)]
        saved = ResponseLog(folder / "generations.jsonl").answered  # answers given as a file, graded as given
        answered = {q.key: c for q in plan if (c := saved.get(q.key) or store.get(q)) is not None}
        failed: dict[tuple[str, int], Completion] = {}
        missing = [q for q in plan if q.key not in answered]
        by_key = {q.key: q for q in missing}

        def arrived(c: Completion, by_key=by_key, answered=answered, failed=failed) -> None:
            req = by_key[(c.problem_id, c.sample_index)]
            store.put(req, c)
            (answered if c.ok else failed)[req.key] = c

        t0 = time.perf_counter()
        if missing:
            log(f"evaluate: {name}: generating {len(missing)} of {len(plan)} samples with {tcfg.backend}")
            task = progress.add_task(f"{name} generate", total=len(plan), completed=len(plan) - len(missing))

            def on_result(c: Completion, task=task, arrived=arrived) -> None:
                arrived(c)
                progress.update(task, advance=1)

            teacher_backend.generate(missing, on_result)
        task = progress.add_task(f"{name} grade", total=len(plan))
        results[name] = grade(proto.domain, items, k, answered, failed, folder, sandbox, verify_timeout_s, workers,
                              on_graded=lambda n, task=task: progress.update(task, advance=n))
        results[name]["generation_seconds"] = round(time.perf_counter() - t0, 2)
        results[name]["reused"] = len(plan) - len(missing)
        if selection is not None:
            results[name]["protocol"] = selection
        log(f"evaluate: {name}: pass@1 {_pct(results[name])} over {len(items)} problems x {k} samples")
    report = {"model": model, "backend": tcfg.backend,
              "protocol": {"temperature": tcfg.temperature, "top_p": tcfg.top_p, "max_tokens": tcfg.max_tokens,
                           "seed": tcfg.seed},
              "benchmarks": results}
    store.close()
    (out / "results.json").write_text(json.dumps(report, indent=1))
    (out / "results.md").write_text(comparison_table(model, results, markdown_table, report["protocol"]))
    return report


def grade(domain: str, items: list[Item], k: int, answered: dict, failed: dict, folder: Path, sandbox: bool,
          timeout_s: float, workers: int | None, on_graded=lambda n: None) -> dict:
    """Score every (item, sample): 1 if the verifier passes it; 0 if wrong, unverifiable or never generated.
    ``on_graded(n)``: n more samples graded (in chunks, for progress; the verdicts do not depend on them)."""
    keys = [(it.id, j) for it in items for j in range(k)]
    by_id = {it.id: it for it in items}
    answers, answered = answered, [key for key in keys if key in answered]
    on_graded(len(keys) - len(answered))  # never generated: nothing to grade
    chunk = max(32, -(-len(answered) // 20))
    by_key = {}
    # items with their own wall limit (LiveCodeBench's per-test limit) are judged in groups of one
    # limit, which holds for each test (each call of a function-call session too, as lcb_runner)
    for wall in sorted({by_id[key[0]].wall_s for key in answered}, key=lambda w: (w is None, w or 0)):
        group = [key for key in answered if by_id[key[0]].wall_s == wall]
        cfg = VerifyConfig(sandbox=sandbox, timeout_s=timeout_s)
        if wall is not None:
            cfg.code_wall_s, cfg.code_limit_per_test = wall, True
        for at in range(0, len(group), chunk):
            part = group[at:at + chunk]
            verdicts = verify_responses(domain, [answers[key].text for key in part],
                                        [by_id[key[0]].reference for key in part], cfg, workers)
            by_key.update(zip(part, verdicts, strict=True))
            on_graded(len(part))
    scores: dict[str, list[float]] = {it.id: [] for it in items}
    reasons: Counter = Counter()
    lengths = []
    with open(folder / "graded.jsonl", "w") as fh:
        for key in keys:
            v = by_key.get(key)
            comp = answers.get(key)
            score = 1.0 if v is not None and v.passed is True else 0.0
            scores[key[0]].append(score)
            reasons[v.reason if v is not None else (failed[key].error if key in failed
                                                    else "not_generated")] += 1
            if comp is not None:
                lengths.append(comp.completion_tokens if comp.completion_tokens is not None else len(comp.text))
            fh.write(json.dumps({"id": key[0], "sample": key[1], "score": score,
                                 "reason": v.reason if v else None, "detail": v.detail if v else None,
                                 "length": lengths[-1] if comp else None}) + "\n")
    out = pass_at_1(scores, k)
    out.update(avg_length=round(statistics.fmean(lengths), 1) if lengths else None,
               length_unit="tokens" if any(c.completion_tokens is not None for c in answers.values())
               else "characters", reasons=dict(reasons), not_generated=len(keys) - len(answered))
    return out


def _pct(r: dict) -> str:
    if r.get("pass@1") is None:
        return "-"
    return f"{100 * r['pass@1']:.1f}" + (f" ± {100 * r['std']:.1f}" if r.get("std") else "")


def markdown_table(models: dict[str, dict]) -> str:
    """The paper's shape: one row per model, one column per benchmark (pass@1 in %)."""
    names = [n for n in ORDER if any(n in r for r in models.values())]
    names += sorted({n for r in models.values() for n in r} - set(names))
    head = "| Model | " + " | ".join(BENCHMARKS[n].title if n in BENCHMARKS else n for n in names) + " |"
    lines = [head, "|---|" + "---:|" * len(names)]
    for model, res in models.items():
        lines.append(f"| {model} | " + " | ".join(_pct(res[n]) if n in res else "-" for n in names) + " |")
    return "\n".join(lines) + "\n"
