"""The ``evaluate`` command: ``EvaluateConfig`` plus the sampling settings of ``TeacherConfig``."""

from __future__ import annotations

from dataclasses import dataclass

import click

from curation import ConfigError, Flags, MissingExtra, TeacherConfig, fail, ref_problem, set_fields, setting
from curation.teachers import TEACHERS
from evaluation.benchmarks import BENCHMARKS, BenchmarkError
from evaluation.livecodebench import PAPER_WINDOW, PROMPTS, RELEASES, TIME_LIMIT_S, LcbError, parse_window


@dataclass
class EvaluateConfig:
    model: str | None = setting(None, True, "Model to evaluate: local folder, Hub id, or served model name.",
                                required=True)
    benchmarks: str = setting("aime24,aime25,math500,gpqa_diamond,livecodebench", True,
                              f"Comma-separated: {', '.join(BENCHMARKS)}, or names of --benchmark-file sets with a "
                              "--domain (default: those sets when there are any, else the paper's five).")
    samples: int | None = setting(None, True, "Samples per problem (default: the protocol's: 16 AIME, "
                                  "4 GPQA-Diamond / LiveCodeBench, 1 MATH-500).")
    out_dir: str | None = setting(None, "--out", "Output folder (default eval/<model name>).")
    files: dict[str, str] = setting({}, "--benchmark-file", "Local copy of a benchmark, or a set of your own "
                                    "(a NAME that is no benchmark here, with its --domain).", multiple=True,
                                    metavar="NAME=PATH")
    domains: list[str] = setting([], "--domain", "The domain of a --benchmark-file set of your own: NAME=DOMAIN, or "
                                 "DOMAIN for every such set. Its rows are read with the domain's fields (problem; "
                                 "answer, tests, or choices and answer) and graded by the domain's verifier.",
                                 multiple=True, metavar="[NAME=]DOMAIN")
    fields: dict[str, str] = setting({}, "--field", "Field mapping for benchmark rows (problem, answer, choices, "
                                     "correct, tests, id).", multiple=True, metavar="OURS=THEIRS")
    limit: int | None = setting(None, True, "First N problems of each benchmark.")
    lcb_window: str = setting(PAPER_WINDOW, True, "LiveCodeBench problems evaluated: START:END contest dates "
                              "(YYYY-MM-DD, both inclusive; default the paper's window) or a release version "
                              f"({', '.join(RELEASES)}). Public and private tests are used, {TIME_LIMIT_S} s per "
                              "test, a sample passes only if every test passes.")
    lcb_prompt: str = setting("deepseek_r1", True, "LiveCodeBench prompt: lcb_runner's code-generation style "
                              "(deepseek_r1: its style for the R1 models and distills; generic: its chat style).")
    no_sandbox: bool = setting(False, True, "Do not execute code answers (LiveCodeBench scores 0 then).",
                               is_flag=True)
    progress_every: float = setting(30.0, True, "When stderr is not a terminal (a log file, nohup, Slurm, CI): a "
                                    "plain progress line of generation and grading every SECONDS, with done/total, "
                                    "rate and ETA (a terminal shows bars).", metavar="SECONDS")


def teacher_defaults() -> TeacherConfig:
    """Evaluation samples locally with vLLM and a fixed base seed unless told otherwise."""
    return TeacherConfig(backend="vllm", seed=0)


TEACHER_SETTINGS = ["backend", "base_urls", "temperature", "top_p", "max_tokens", "seed", "concurrency",
                    "requests_per_minute", "tokens_per_minute", "tensor_parallel_size"]
FLAGS = Flags(show_defaults=True).add(EvaluateConfig, choices={"lcb_prompt": lambda: list(PROMPTS)}).add(
    TeacherConfig, section="teacher", only=TEACHER_SETTINGS, rename={"backend": "--backend"},
    helps={"backend": "Generation backend: vllm (local GPUs, or vLLM's CPU build), openai (an OpenAI-compatible "
                      "server at --base-url), hf (transformers generate), auto (vllm where it is installed and a GPU "
                      "is present, else hf)."},
    choices={"backend": lambda: [name for name, cls in TEACHERS.items() if getattr(cls, "live", False)] + ["auto"]},
    defaults=teacher_defaults())


def local_domains(given: list[str], files: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """``--domain`` items -> ``({set name: domain}, problems)`` for the ``--benchmark-file`` sets that are
    no registered benchmark: ``NAME=DOMAIN`` names one, a bare ``DOMAIN`` every other one."""
    from curation import DOMAINS

    named = dict(item.split("=", 1) for item in given if "=" in item)
    bare = [item for item in given if "=" not in item]
    own = [name for name in files if name not in BENCHMARKS]
    problems = [f"--domain: unknown domain {d!r} (known: {', '.join(DOMAINS)})"
                for d in [*bare, *named.values()] if d not in DOMAINS]
    if len(set(bare)) > 1:
        problems.append(f"--domain: one bare DOMAIN for every set, got {', '.join(bare)} (use NAME=DOMAIN)")
    problems += [f"--domain {n}={d}: no --benchmark-file {n}=PATH" for n, d in named.items() if n not in files]
    domains = {n: named.get(n) or (bare[0] if bare else None) for n in own}
    problems += [f"--benchmark-file {n}: not a benchmark here ({', '.join(BENCHMARKS)}); give the domain of the "
                 f"set with --domain {n}=DOMAIN" for n, d in domains.items() if d is None]
    return {n: d for n, d in domains.items() if d is not None}, problems


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@FLAGS
def main(**options):
    """Evaluate a model on reasoning benchmarks with the paper's protocol (pass@1 over K samples)."""
    from curation import RunProgress
    from evaluation.run import evaluate, resolve_backend

    given, bad_pairs = FLAGS.values(options)
    cfg = EvaluateConfig(**{k: v for k, v in given.items() if "." not in k})
    teacher, problems = teacher_defaults(), []
    set_fields(teacher, {k.partition(".")[2]: v for k, v in given.items() if k.startswith("teacher.")}, problems,
               label=lambda k: f"teacher.{k}", unknown=lambda k: f"teacher.{k}: unknown setting")
    domains, bad = local_domains(cfg.domains, cfg.files)
    problems += bad
    names = [b.strip() for b in cfg.benchmarks.split(",") if b.strip()]
    if "benchmarks" not in given and domains:
        names = list(domains)
    problems += [f"--benchmarks: unknown {n!r} (known: {', '.join(BENCHMARKS)}; a set of your own: "
                 f"--benchmark-file {n}=PATH --domain {n}=DOMAIN)" for n in names
                 if n not in BENCHMARKS and n not in domains]
    problems += bad_pairs
    try:
        parse_window(cfg.lcb_window)
    except LcbError as exc:
        problems.append(str(exc))
    if teacher.backend != "openai" and (problem := ref_problem(cfg.model, "--model")):
        problems.append(problem)
    if teacher.backend == "openai" and not teacher.base_urls:
        problems.append("--backend openai needs --base-url")
    if cfg.progress_every <= 0:
        problems.append(f"--progress-every: must be positive, got {cfg.progress_every}")
    if problems:
        fail("evaluate", problems)
    teacher.model = cfg.model
    teacher.backend = resolve_backend(teacher.backend)
    out_dir = cfg.out_dir or f"eval/{cfg.model.rstrip('/').split('/')[-1]}"
    try:
        with RunProgress(every=cfg.progress_every, name="evaluate") as progress:
            report = evaluate(cfg.model, names, out_dir, teacher=teacher, samples=cfg.samples, files=cfg.files,
                              fields=cfg.fields, limit=cfg.limit, sandbox=not cfg.no_sandbox,
                              options={"lcb_window": cfg.lcb_window, "lcb_prompt": cfg.lcb_prompt}, domains=domains,
                              log=lambda m: progress.console.print(m, markup=False, highlight=False, soft_wrap=True),
                              progress=progress)
    except (BenchmarkError, MissingExtra) as exc:
        fail("evaluate", [str(exc)])
    except ConfigError as exc:
        fail("evaluate", exc.problems)
    except OSError as exc:  # a model folder that is not there or not a model
        fail("evaluate", [f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"])
    from evaluation.run import markdown_table

    click.echo(markdown_table({cfg.model: report["benchmarks"]}))
    click.echo(f"(results.md in {out_dir} puts the paper's Table 1 beside it, with the protocol differences)")


if __name__ == "__main__":
    main()
