"""The ``curate`` command: one sub-command per domain, plus ``presets``.

Flags are generated from ``curation.config`` (each setting is declared once there); a recipe
YAML sets the rest. Config problems are all reported together, one line each, exit code 2.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from curation.checks import prepare
from curation.config import CurateConfig, iter_fields, read_recipe_yaml, with_demo
from curation.domains import DOMAINS, get_domain
from curation.optional import MissingExtra
from curation.progress import DEFAULT_EVERY_S
from curation.settings import ConfigError, Flags, fail


def _presets():
    from curation.sources.rows import PRESETS

    return PRESETS


def _teachers():
    from curation.teachers import TEACHERS

    return TEACHERS


def _retrievers():
    from curation.stages.decontam_judge import RETRIEVERS

    return RETRIEVERS


def _live_teachers():
    from curation.teachers import live_teachers

    return [*live_teachers(), "none"]


def _config_flags() -> Flags:
    """One click option per flagged field of ``CurateConfig`` (dest ``section__name``); options
    whose values come from a registry take its keys as their choices. The judge section is a
    teacher config of its own, exposed by three options of its own."""
    flags = Flags()
    for section in dict.fromkeys(name for name, _ in iter_fields(CurateConfig)):
        if section == "judge":
            continue
        flags.add(type(getattr(CurateConfig(), section)), section=section,
                  choices={"preset": _presets, "backend": _teachers, "retrieval": _retrievers})
    from curation.config import TeacherConfig

    flags.add(TeacherConfig, section="judge", only=["backend", "model", "base_urls"],
              rename={"backend": "--judge", "model": "--judge-model", "base_urls": "--judge-base-url"},
              choices={"backend": _live_teachers},
              helps={"backend": "An LLM judge (a live teacher backend) for the verdicts the parsers cannot decide "
                                "(unparseable or free-form golds) and, with --decontam-judge, for benchmark items "
                                "that may be rephrased; default none.",
                     "model": "The judge's model (served name, local path or Hub id).",
                     "base_urls": "The judge's OpenAI-compatible endpoint (repeatable)."})
    return flags


def _fail(problems: list[str]):
    fail("curate", problems)


def print_funnel(report: dict, console: Console) -> None:
    table = Table(title=f"{report['domain']} funnel", title_justify="left")
    for col, justify in (("stage", "left"), ("in", "right"), ("kept", "right"), ("rejected", "right"),
                         ("reasons", "left")):
        table.add_column(col, justify=justify)
    for s in report["funnel"]:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(s["rejected"].items(), key=lambda kv: -kv[1]))
        table.add_row(s["stage"], str(s["rows_in"]), str(s["kept"]), str(s["rejected_total"]), reasons)
    console.print(table)


def nothing_kept(report: dict, out_dir: str) -> str:
    """The result line of a run that kept no row: not an error (exit 0, the funnel is the result),
    but said plainly, with the reasons that took the most rows."""
    reasons = sorted(((n, r, s["stage"]) for s in report["funnel"] for r, n in s["rejected"].items()),
                     key=lambda t: (-t[0], t[1]))
    top = ", ".join(f"{r} {n} ({stage})" for n, r, stage in reasons[:3])
    rows = report["rows"]
    why = f"top reasons: {top}" if top else "the source gave no rows"
    return (f"nothing was kept: 0 of {rows['source_rows']} source rows made it into the set; {why}. "
            f"The rejected rows and their reasons are in {out_dir}/rejected/ "
            f"(conservation {'ok' if report['conservation'] else 'VIOLATED'})")


def _domain_command(domain: str) -> click.Command:
    shipped = get_domain(domain).recipe
    flags = _config_flags()

    @click.command(name=domain, help=f"Curate the {domain} SFT set" + (
        f" from the recipe curation/recipes/{shipped.name}. " if shipped else ". ")
        + "With no --source, --preset or --recipe it curates the embedded demo set (offline).")
    @click.option("--recipe", type=click.Path(dir_okay=False), default=None,
                  help=f"Recipe YAML (default: the shipped {domain} recipe).")
    @click.option("--restart", is_flag=True, help="Redo all CPU work (load, problem stages, verification); stored "
                  "teacher answers are kept and reused. A changed recipe needs no --restart.")
    @click.option("--drop-answers", is_flag=True, help="Delete the stored answers of this teacher setting (model, "
                  "sampling, max tokens) first: they are asked, and paid for, again.")
    @click.option("--quiet", is_flag=True, help="No progress bars or lines, no funnel table.")
    @click.option("--progress-every", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_EVERY_S,
                  show_default=True, metavar="SECONDS", help="When stderr is not a terminal (a log file, nohup, Slurm, "
                  "CI): a plain progress line per running phase every SECONDS, with done/total, rate and ETA (a "
                  "terminal shows bars).")
    @click.option("--push-to-hub", "push_to_hub", metavar="[ORG/]NAME", default=None,
                  help="After curating, upload the folder to this Hub dataset repo in one commit (a bare NAME "
                       "is in the token owner's namespace).")
    @flags
    def command(recipe, restart, drop_answers, quiet, progress_every, push_to_hub, **kwargs):
        from curation.run import AnswersPending, TeacherFailed, run_curation

        console = Console(stderr=True, soft_wrap=True)  # a message is one line in a log file
        overrides, problems = flags.values(kwargs)
        try:
            data = read_recipe_yaml(recipe or shipped) if (recipe or shipped) else {}
        except ConfigError as exc:
            _fail(exc.problems + problems)
        if "source.path" in overrides and "source.preset" not in overrides and isinstance(data.get("source"), dict):
            # --source replaces the recipe's source, including a preset's path and field mapping.
            data["source"]["preset"] = None
        if not (recipe or "source.path" in overrides or "source.preset" in overrides):
            data = with_demo(data)
            if not quiet:
                console.print(f"[dim]no --source/--preset/--recipe: curating the embedded {domain} demo set, "
                              f"decontaminated against the embedded demo benchmark (the recipe's own source and "
                              f"benchmarks are used with --recipe {shipped})[/dim]")
        if data.get("domain", domain) != domain:
            problems.append(f"recipe: is for domain {data.get('domain')!r}, not {domain!r}")
        data["domain"] = domain
        try:
            cfg, source = prepare(data, overrides, origin=f"recipe {recipe or (shipped.name if shipped else domain)}")
        except ConfigError as exc:
            _fail(problems + exc.problems)
        if problems:
            _fail(problems)
        try:
            report = run_curation(cfg, source=source, restart=restart, drop_answers=drop_answers, console=console,
                                  quiet=quiet, progress_every=progress_every)
        except ConfigError as exc:
            _fail(exc.problems)
        except MissingExtra as exc:
            _fail([str(exc)])
        except TeacherFailed as exc:
            click.echo(f"curate: error: {exc}", err=True)
            sys.exit(1)
        except AnswersPending as exc:  # requests exported (or nowhere to ask): done for now, nothing published
            click.echo(f"curate: {exc}")
            return
        except KeyboardInterrupt:
            click.echo("curate: interrupted; re-run the same command to resume", err=True)
            sys.exit(130)
        if not quiet:
            print_funnel(report, Console())
        out_dir = cfg.output.out_dir or f"out/{domain}"
        out = report["shards"]["train"][0].split("/")[0] if report["shards"]["train"] else "data"
        if report["rows"]["train"] == 0:
            click.echo(nothing_kept(report, out_dir))
        else:
            click.echo(f"{report['rows']['train']} rows -> {out_dir}/{out}/ "
                       f"({len(report['shards']['train'])} shard(s)); rejected {report['rows']['rejected']}; "
                       f"conservation {'ok' if report['conservation'] else 'VIOLATED'}")
        if not report["conservation"]:
            sys.exit(1)
        if push_to_hub:
            _push(cfg.output.out_dir or f"out/{domain}", push_to_hub)

    return command


class DomainGroup(click.Group):
    """One sub-command per registered domain (looked up when the command line is read, so a
    domain registered by the user's own code gets its ``curate NAME``), plus the fixed ones."""

    def list_commands(self, ctx):
        return [*DOMAINS, *super().list_commands(ctx)]

    def get_command(self, ctx, name):
        if name in DOMAINS:
            return _domain_command(name)
        return super().get_command(ctx, name)


@click.group(cls=DomainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="branch-merge")
def main() -> None:
    """Curate verified per-domain SFT sets from teacher traces (Branch-Merge distillation)."""


@main.command()
@click.argument("out_dir", type=click.Path())
@click.option("--repo", required=True, metavar="[ORG/]NAME", help="Hub dataset repo (created when missing); a "
              "bare NAME is in the token owner's namespace.")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--revision", default=None, help="Branch to push to (created when missing; default main).")
@click.option("--message", default=None, help="Commit message.")
@click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login).")
def push(out_dir, repo, private, revision, message, token) -> None:
    """Upload a curated folder (shards, rejected shards, card, report, recipe, plots) in one commit."""
    _push(out_dir, repo, private=private, revision=revision, message=message, token=token)


def _push(out_dir, repo, **kwargs) -> None:
    from curation.output.push import PushError, push_folder

    try:
        push_folder(out_dir, repo, log=lambda m: click.echo(m, err=True), **kwargs)
    except PushError as exc:
        _fail([str(exc)])


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--rejected", is_flag=True, help="Rejected rows instead of kept ones.")
@click.option("--reason", default=None, help="Only rows with this reason (a rejected row's, or a kept row's verdict "
              "reason such as not_executed).")
@click.option("--stage", default=None, help="Only rejected rows of this stage (implies --rejected).")
@click.option("-n", "n", type=click.IntRange(min=1), default=5, show_default=True, help="Rows shown.")
@click.option("--chars", type=click.IntRange(min=50), default=600, show_default=True,
              help="Characters shown of each problem and of the end of each response.")
def inspect(out_dir, rejected, reason, stage, n, chars) -> None:
    """Print rows of a curated folder to read: the problem, the end of the response, the verdict and
    the reason (e.g. `curate inspect out/math --rejected --reason wrong_answer`)."""
    from curation.output.inspect_rows import InspectError, inspect_rows

    try:
        click.echo(inspect_rows(out_dir, rejected=rejected or stage is not None, reason=reason, stage=stage, n=n,
                                chars=chars), nl=False)
    except InspectError as exc:
        _fail([str(exc)])


@main.command()
def presets() -> None:
    """List the named sources usable with --preset."""
    from curation.sources.rows import PRESETS

    for name, p in sorted(PRESETS.items()):
        click.echo(f"{name}: {p['path']} [{p.get('subset') or '-'}/{p.get('split', 'train')}] - {p['about']}")


if __name__ == "__main__":
    main()
