"""The ``curate`` command: one sub-command per domain, plus ``presets``.

Flags are generated from ``curation.config`` (each setting is declared once there); a recipe
YAML sets the rest. Config problems are all reported together, one line each, exit code 2.
"""

from __future__ import annotations

import sys
import typing

import click
from rich.console import Console
from rich.table import Table

from curation.config import (
    ConfigError,
    CurateConfig,
    build_config,
    iter_fields,
    leaf_type,
    load_recipe,
    parse_pairs,
    recipe_path,
    with_demo,
)
from curation.optional import MissingExtra

_CLICK_TYPES = {int: click.INT, float: click.FLOAT, str: click.STRING}


def _presets():
    from curation.sources import PRESETS

    return PRESETS


def _teachers():
    from curation.teachers import TEACHERS

    return TEACHERS


# Options whose values come from a registry: the CLI choices are the registry's keys.
CHOICES = {"source__preset": _presets, "teacher__backend": _teachers}


_FLAGS: dict[str, str] = {}
_LISTS: set[str] = set()  # repeatable options that collect values (the others collect KEY=VALUE pairs)


def config_options(func):
    """Add one click option per flagged field of ``CurateConfig`` (dest ``section__name``)."""
    for section, f in reversed(iter_fields(CurateConfig)):
        flag = f.metadata.get("flag")
        if not flag:
            continue
        dest = f"{section}__{f.name}"
        _FLAGS[dest] = flag.split("/")[0]
        hint, _ = leaf_type(type(getattr(CurateConfig(), section)), f.name)
        kwargs: dict = {"help": f.metadata.get("help", ""), "default": None}
        if f.metadata.get("multiple") and typing.get_origin(hint) is list:
            _LISTS.add(dest)
            kwargs.update(multiple=True, default=(), metavar="URL")
        elif f.metadata.get("multiple"):
            metavar = {"benchmarks": "NAME=PATH", "where": "FIELD=VALUE"}.get(f.name, "OURS=THEIRS")
            kwargs.update(multiple=True, default=(), metavar=metavar)
        elif hint is bool:
            if "/" not in flag:
                kwargs.update(is_flag=True, flag_value=True)
        elif dest in CHOICES:
            kwargs["type"] = click.Choice(sorted(CHOICES[dest]()))
        elif typing.get_origin(hint) is None:
            kwargs["type"] = _CLICK_TYPES.get(hint, click.STRING)
        func = click.option(flag, dest, **kwargs)(func)
    return func


def overrides_from(kwargs: dict) -> tuple[dict, list[str]]:
    overrides, problems = {}, []
    for dest, value in kwargs.items():
        if value is None or value == ():
            continue
        section, _, name = dest.partition("__")
        if dest in _LISTS:
            value = list(value)
        elif isinstance(value, tuple):  # repeatable KEY=VALUE options
            value, bad = parse_pairs(value, _FLAGS[dest])
            problems += bad
        overrides[f"{section}.{name}"] = value
    return overrides, problems


def _fail(problems: list[str]) -> typing.NoReturn:
    for p in problems:
        click.echo(f"curate: error: {p}", err=True)
    sys.exit(2)


def print_funnel(report: dict, console: Console) -> None:
    table = Table(title=f"{report['domain']} funnel", title_justify="left")
    for col, justify in (("stage", "left"), ("in", "right"), ("kept", "right"), ("rejected", "right"),
                         ("reasons", "left")):
        table.add_column(col, justify=justify)
    for s in report["funnel"]:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(s["rejected"].items(), key=lambda kv: -kv[1]))
        table.add_row(s["stage"], str(s["rows_in"]), str(s["kept"]), str(s["rejected_total"]), reasons)
    console.print(table)


def _domain_command(domain: str) -> click.Command:
    @click.command(name=domain, help=f"Curate the {domain} SFT set from the recipe curation/recipes/{domain}.yaml. "
                   "With no --source, --preset or --recipe it curates the embedded demo set (offline).")
    @click.option("--recipe", type=click.Path(dir_okay=False), default=None,
                  help=f"Recipe YAML (default: the shipped {domain} recipe).")
    @click.option("--restart", is_flag=True, help="Discard finished parts in the work folder and start over.")
    @click.option("--quiet", is_flag=True, help="No progress bars or funnel table.")
    @click.option("--push-to-hub", "push_to_hub", metavar="ORG/NAME", default=None,
                  help="After curating, upload the folder to this Hub dataset repo in one commit.")
    @config_options
    def command(recipe, restart, quiet, push_to_hub, **kwargs):
        from curation.pipeline import run_curation

        console = Console(stderr=True)
        overrides, problems = overrides_from(kwargs)
        try:
            data = load_recipe(recipe or recipe_path(domain))
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
                              f"benchmarks are used with --recipe {recipe_path(domain)})[/dim]")
        if data.get("domain", domain) != domain:
            problems.append(f"recipe: is for domain {data.get('domain')!r}, not {domain!r}")
        data["domain"] = domain
        try:
            cfg = build_config(data, overrides, origin=f"recipe {recipe or recipe_path(domain).name}")
        except ConfigError as exc:
            _fail(problems + exc.problems)
        if problems:
            _fail(problems)
        try:
            report = run_curation(cfg, restart=restart, console=console, quiet=quiet)
        except ConfigError as exc:
            _fail(exc.problems)
        except MissingExtra as exc:
            _fail([str(exc)])
        except KeyboardInterrupt:
            click.echo("curate: interrupted; re-run the same command to resume", err=True)
            sys.exit(130)
        if not quiet:
            print_funnel(report, Console())
        out = report["shards"]["train"][0].split("/")[0] if report["shards"]["train"] else "data"
        click.echo(f"{report['rows']['train']} rows -> {cfg.output.out_dir or f'out/{domain}'}/{out}/ "
                   f"({len(report['shards']['train'])} shard(s)); rejected {report['rows']['rejected']}; "
                   f"conservation {'ok' if report['conservation'] else 'VIOLATED'}")
        if not report["conservation"]:
            sys.exit(1)
        if push_to_hub:
            _push(cfg.output.out_dir or f"out/{domain}", push_to_hub)

    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="branch-merge")
def main() -> None:
    """Curate verified per-domain SFT sets from teacher traces (Branch-Merge distillation)."""


DOMAINS = ("math", "code", "science")
for _domain in DOMAINS:
    main.add_command(_domain_command(_domain))


@main.command()
@click.argument("out_dir", type=click.Path())
@click.option("--repo", required=True, metavar="ORG/NAME", help="Hub dataset repo (created when missing).")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--revision", default=None, help="Branch to push to (created when missing; default main).")
@click.option("--message", default=None, help="Commit message.")
@click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login).")
def push(out_dir, repo, private, revision, message, token) -> None:
    """Upload a curated folder (shards, rejected shards, card, report, recipe, plots) in one commit."""
    _push(out_dir, repo, private=private, revision=revision, message=message, token=token)


def _push(out_dir, repo, **kwargs) -> None:
    from curation.push import PushError, push_folder

    try:
        push_folder(out_dir, repo, log=lambda m: click.echo(m, err=True), **kwargs)
    except PushError as exc:
        _fail([str(exc)])


@main.command()
def presets() -> None:
    """List the named sources usable with --preset."""
    from curation.sources import PRESETS

    for name, p in sorted(PRESETS.items()):
        click.echo(f"{name}: {p['path']} [{p.get('subset') or '-'}/{p.get('split', 'train')}] - {p['about']}")


if __name__ == "__main__":
    main()
