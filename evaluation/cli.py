"""The ``evaluate`` command."""

from __future__ import annotations

import sys

import click

from evaluation.benchmarks import BENCHMARKS, BenchmarkError


def _fail(problems: list[str]):
    for p in problems:
        click.echo(f"evaluate: error: {p}", err=True)
    sys.exit(2)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", required=True, help="Model to evaluate: local folder, Hub id, or served model name.")
@click.option("--benchmarks", default="aime24,aime25,math500,gpqa_diamond,livecodebench", show_default=True,
              help=f"Comma-separated: {', '.join(BENCHMARKS)}.")
@click.option("--backend", type=click.Choice(["vllm", "openai", "hf"]), default="vllm", show_default=True)
@click.option("--samples", type=int, default=None, help="Samples per problem (default: the protocol's: 16 AIME, "
              "4 GPQA-Diamond / LiveCodeBench, 1 MATH-500).")
@click.option("--out", "out_dir", default=None, help="Output folder (default eval/<model name>).")
@click.option("--benchmark-file", "files", multiple=True, metavar="NAME=PATH", help="Local copy of a benchmark.")
@click.option("--field", "fields", multiple=True, metavar="OURS=THEIRS",
              help="Field mapping for benchmark rows (problem, answer, choices, correct, tests, id).")
@click.option("--limit", type=int, default=None, help="First N problems of each benchmark.")
@click.option("--base-url", "base_urls", multiple=True, help="openai backend: endpoint(s).")
@click.option("--temperature", type=float, default=0.6, show_default=True)
@click.option("--top-p", type=float, default=0.95, show_default=True)
@click.option("--max-tokens", type=int, default=32768, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--concurrency", type=int, default=64, show_default=True)
@click.option("--tensor-parallel-size", type=int, default=1, show_default=True)
@click.option("--no-sandbox", is_flag=True, help="Do not execute code answers (LiveCodeBench scores 0 then).")
def main(model, benchmarks, backend, samples, out_dir, files, fields, limit, base_urls, temperature, top_p,
         max_tokens, seed, concurrency, tensor_parallel_size, no_sandbox):
    """Evaluate a model on reasoning benchmarks with the paper's protocol (pass@1 over K samples)."""
    from curation.config import ConfigError, TeacherConfig, parse_pairs
    from curation.optional import MissingExtra
    from evaluation.run import evaluate

    problems = []
    names = [b.strip() for b in benchmarks.split(",") if b.strip()]
    problems += [f"--benchmarks: unknown {n!r} (known: {', '.join(BENCHMARKS)})" for n in names if n not in BENCHMARKS]
    file_map, bad_files = parse_pairs(files, "--benchmark-file")
    field_map, bad_fields = parse_pairs(fields, "--field")
    problems += bad_files + bad_fields
    from curation.model_ref import model_ref_problem

    if backend != "openai" and (problem := model_ref_problem(model, "--model")):
        problems.append(problem)
    if backend == "openai" and not base_urls:
        problems.append("--backend openai needs --base-url")
    if problems:
        _fail(problems)
    teacher = TeacherConfig(backend=backend, model=model, base_urls=list(base_urls), temperature=temperature,
                            top_p=top_p, max_tokens=max_tokens, seed=seed, concurrency=concurrency,
                            tensor_parallel_size=tensor_parallel_size)
    out_dir = out_dir or f"eval/{model.rstrip('/').split('/')[-1]}"
    try:
        report = evaluate(model, names, out_dir, teacher=teacher, samples=samples, files=file_map, fields=field_map,
                          limit=limit, sandbox=not no_sandbox, log=lambda m: click.echo(m, err=True))
    except (BenchmarkError, MissingExtra) as exc:
        _fail([str(exc)])
    except ConfigError as exc:
        _fail(exc.problems)
    except OSError as exc:  # a model folder that is not there or not a model
        _fail([f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"])
    from evaluation.run import markdown_table

    click.echo(markdown_table({model: report["benchmarks"]}))


if __name__ == "__main__":
    main()
