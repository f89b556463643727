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
                              f"Comma-separated: {', '.join(BENCHMARKS)}.")
    samples: int | None = setting(None, True, "Samples per problem (default: the protocol's: 16 AIME, "
                                  "4 GPQA-Diamond / LiveCodeBench, 1 MATH-500).")
    out_dir: str | None = setting(None, "--out", "Output folder (default eval/<model name>).")
    files: dict[str, str] = setting({}, "--benchmark-file", "Local copy of a benchmark.", multiple=True,
                                    metavar="NAME=PATH")
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
    helps={"backend": "Generation backend: vllm (local GPUs), openai (an OpenAI-compatible server at --base-url), "
                      "hf (transformers generate)."},
    choices={"backend": lambda: [name for name, cls in TEACHERS.items() if getattr(cls, "live", False)]},
    defaults=teacher_defaults())


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@FLAGS
def main(**options):
    """Evaluate a model on reasoning benchmarks with the paper's protocol (pass@1 over K samples)."""
    from curation import RunProgress
    from evaluation.run import evaluate

    given, bad_pairs = FLAGS.values(options)
    cfg = EvaluateConfig(**{k: v for k, v in given.items() if "." not in k})
    teacher, problems = teacher_defaults(), []
    set_fields(teacher, {k.partition(".")[2]: v for k, v in given.items() if k.startswith("teacher.")}, problems,
               label=lambda k: f"teacher.{k}", unknown=lambda k: f"teacher.{k}: unknown setting")
    names = [b.strip() for b in cfg.benchmarks.split(",") if b.strip()]
    problems += [f"--benchmarks: unknown {n!r} (known: {', '.join(BENCHMARKS)})" for n in names if n not in BENCHMARKS]
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
    out_dir = cfg.out_dir or f"eval/{cfg.model.rstrip('/').split('/')[-1]}"
    try:
        with RunProgress(every=cfg.progress_every, name="evaluate") as progress:
            report = evaluate(cfg.model, names, out_dir, teacher=teacher, samples=cfg.samples, files=cfg.files,
                              fields=cfg.fields, limit=cfg.limit, sandbox=not cfg.no_sandbox,
                              options={"lcb_window": cfg.lcb_window, "lcb_prompt": cfg.lcb_prompt},
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
