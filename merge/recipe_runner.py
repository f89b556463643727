"""``branch-merge run RECIPE --student PATH --work DIR``: a recipe carried out step by step.

Every step is the command a user would type (the recipe's ``prepare`` modules, then ``curate``,
``train``, ``merge``, ``evaluate`` as ``python -m <package>.cli ...``), run in a subprocess, so
``--dry-run`` prints exactly what runs and the printed lines also serve as job scripts (curation
on CPU nodes, training under any launcher: ``--launcher "torchrun --nproc_per_node 8 -m"``).
Outputs go to WORK/data/RUN, WORK/experts/BRANCH, WORK/merged and WORK/eval (WORK/eval/MODEL when
the recipe evaluates several models). A step is skipped when its output is complete and
WORK/.steps/STEP.json records the same command; a killed run continues because each command
resumes itself (curate's work folder, train's ``--resume``). A failing step stops the run with its
last error line and the command that re-runs it; its whole output is in WORK/logs/STEP.log. At
the end WORK/results.json and the run's card (WORK/README.md) gather the evaluations
(``merge.run_report``), and the wall time is printed.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

from curation import DOMAINS, ConfigError, fail
from merge.plan import load_plan
from merge.recipe import WORK, Recipe, load_recipe


@dataclass
class RecipeStep:
    name: str  # prepare-NAME, curate-RUN, train-BRANCH, merge, evaluate (evaluate-MODEL)
    command: list[str]
    module: int  # index of the module name in ``command``: what follows it is the step's own arguments
    out: Path

    def shell(self) -> str:
        return shlex.join(self.command)

    def key(self) -> list[str]:
        """The command without the interpreter or launcher, which do not decide the output."""
        return self.command[self.module:]


def _python(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def _flag_args(settings: dict, at) -> list[str]:
    """Train settings as the flags ``train`` takes (``max_steps: 2`` -> ``--max-steps 2``)."""
    from training import TrainConfig

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    args = []
    for key, value in settings.items():
        f = fields[str(key).replace("-", "_")]
        flag = f.metadata["flag"]
        flag = ("--" + f.name.replace("_", "-")) if flag is True else flag.split("/")[0]
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, list):
            args += [a for v in value for a in (flag, at(str(v)))]
        else:
            args += [flag, at(str(value))]
    return args


def plan_steps(recipe: Recipe, student: str, work: str | Path, launcher: str | None = None) -> list[RecipeStep]:
    """The recipe's commands in order: the prepare steps, every curation run, every branch's
    training, the merge (or the search), the evaluations."""
    work = Path(work).expanduser().resolve()

    def at(text: str) -> str:
        return text.replace(WORK, str(work))

    student = at(student)
    student = str(Path(student).expanduser().resolve()) if Path(student).expanduser().exists() else student
    steps: list[RecipeStep] = [RecipeStep(f"prepare-{p.name}", _python(p.run[0]) + [at(a) for a in p.run[1:]], 2,
                                          Path(at(p.out))) for p in recipe.prepare]
    runs = recipe.runs()
    for name, (_, run) in runs.items():
        out = work / "data" / name
        cmd = _python("curation.cli") + [run.domain, "--out", str(out)]
        for flag, value in (("--recipe", run.recipe), ("--preset", run.preset), ("--source", run.source),
                            ("--teacher", run.teacher), ("--teacher-model", run.teacher_model)):
            cmd += [flag, at(value)] if value is not None else []
        steps.append(RecipeStep(f"curate-{name}", cmd + [at(a) for a in run.args], 3, out))
    train_cmd = shlex.split(launcher) + ["training.cli"] if launcher else _python("training.cli")
    experts = {}
    for b in recipe.branches.values():
        out = experts[b.name] = work / "experts" / b.name
        cmd = train_cmd + ["--branch", b.preset, "--model", student, "--output", str(out), "--resume"]
        cmd += ["--config", b.train.config] if b.train.config else []
        for spec in b.train.mixture:
            ref, factor = _split_spec(spec)
            cmd += ["--data", (str(work / "data" / ref) if ref in runs else at(ref)) + factor]
        steps.append(RecipeStep(f"train-{b.name}", cmd + _flag_args(b.train.settings, at), len(train_cmd) - 1, out))
    merged = work / "merged"
    cmd = _python("merge.cli") + ["--out", str(merged), "--overwrite"]  # its own earlier try
    if recipe.search is None:
        cmd[3:3] = ["--plan", recipe.plan]
        names = load_plan(recipe.plan).inputs()
    else:
        cmd += ["--search"] + (["--candidates", recipe.search.candidates] if recipe.search.candidates else [])
        for domain, bench in recipe.search.dev.items():
            cmd += ["--dev", f"{domain}={at(recipe.benchmarks[bench].file)}"]
        cmd += [at(a) for a in recipe.search.args]
        names = ["base", *recipe.search.dev]
    for name in names:
        if name == "base":
            cmd += ["--base", student]
        elif name in DOMAINS:
            cmd += [f"--{name}", str(experts[name])]
        else:
            cmd += ["--model", f"{name}={experts[name]}"]
    steps.append(RecipeStep("merge", cmd + [at(a) for a in recipe.merge_args], 2, merged))
    if recipe.evaluate is not None:
        ev = recipe.evaluate
        local = []
        for bench in ev.benchmarks:
            if bench in recipe.benchmarks:
                b = recipe.benchmarks[bench]
                local += ["--benchmark-file", f"{bench}={at(b.file)}", "--domain", f"{bench}={b.domain}"]
        paths = {"merged": merged, "student": Path(student), **experts}
        for model in ev.models:
            name, out = ("evaluate", work / "eval") if ev.models == ["merged"] else (f"evaluate-{model}",
                                                                                     work / "eval" / model)
            cmd = _python("evaluation.cli") + ["--model", str(paths[model]), "--benchmarks", ",".join(ev.benchmarks),
                                               "--out", str(out)]
            steps.append(RecipeStep(name, cmd + local + [at(a) for a in ev.args], 2, out))
    return steps


def _split_spec(spec: str) -> tuple[str, str]:
    """``A*2`` -> ``("A", "*2")``; a spec without a factor -> ``(spec, "")``."""
    head, op, n = spec.rpartition("*") if "*" in spec else spec.rpartition("@")
    return (head, op + n) if op and n.isdigit() else (spec, "")


def output_complete(step: RecipeStep) -> bool:
    """Whether the step's output is all there (read from what each command writes last)."""
    out = step.out
    if step.name.startswith("prepare-"):
        return out.exists()
    if step.name.startswith("curate-"):
        report = out / "report.json"
        return report.is_file() and json.loads(report.read_text()).get("conservation") is True
    if step.name.startswith("train-"):
        return all((out / f).is_file() for f in ("train_config.json", "train_summary.json")) and (
            (out / "model.safetensors").is_file() or (out / "model.safetensors.index.json").is_file())
    if step.name == "merge":
        return (out / "config.json").is_file() and any(out.glob("*.safetensors"))
    return (out / "results.json").is_file()


def _marker(work: Path, step: RecipeStep) -> Path:
    return work / ".steps" / f"{step.name}.json"


def is_done(work: Path, step: RecipeStep) -> bool:
    marker = _marker(work, step)
    return (output_complete(step) and marker.is_file()
            and json.loads(marker.read_text()).get("command") == step.key())


class StepFailed(Exception):
    def __init__(self, step: RecipeStep, error: str):
        self.step, self.error = step, error
        super().__init__(f"step {step.name} failed: {error}")


def run_step(work: Path, step: RecipeStep, *, echo=True, env: dict | None = None, prefix: str = "") -> None:
    """Run one command, its output teed to WORK/logs/STEP.log (and stderr, each line after
    ``prefix``); mark it done, with the seconds it took."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    last_error = last_line = ""
    t0 = time.perf_counter()
    with open(logs / f"{step.name}.log", "a") as log:
        log.write(f"$ {step.shell()}\n")
        proc = subprocess.Popen(step.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1, env=env)
        for line in proc.stdout:
            log.write(line)
            if echo:
                sys.stderr.write(prefix + line)
            if line.strip():
                last_line = line.strip()
                if ": error: " in line or "Error:" in line:
                    last_error = line.strip()
        code = proc.wait()
    if code != 0:
        raise StepFailed(step, last_error or last_line or f"exit status {code}")
    marker = _marker(work, step)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"command": step.key(), "seconds": round(time.perf_counter() - t0, 1)},
                                 indent=1) + "\n")


# Steps of these kinds depend only on earlier kinds, so consecutive ones may run at once (--jobs).
PARALLEL_KINDS = ("curate", "train", "evaluate")


def _groups(steps: list[RecipeStep]) -> list[list[int]]:
    """Indices of steps that may run together: a run of consecutive steps of one parallel kind, else one."""
    groups: list[list[int]] = []
    for i, step in enumerate(steps):
        kind = step.name.split("-")[0]
        if groups and kind in PARALLEL_KINDS and steps[groups[-1][-1]].name.split("-")[0] == kind:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def step_env(jobs: int) -> dict | None:
    """The environment of a step's process: with several at once, each gets its share of the CPU
    threads (OMP_NUM_THREADS, unless it is set already)."""
    import os

    if jobs <= 1 or "OMP_NUM_THREADS" in os.environ:
        return None
    return {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // jobs))}


def run_recipe(recipe: Recipe, student: str, work: str | Path, *, launcher: str | None = None,
               dry_run: bool = False, echo=True, say=None, jobs: int | None = None) -> list[tuple[str, str]]:
    """Carry out (or with ``dry_run`` print) the recipe; returns ``(step, "ran"|"skipped"|"planned")``.
    ``jobs`` (default the recipe's): how many curation, training or evaluation steps run at once."""
    from concurrent.futures import ThreadPoolExecutor

    say = say or (lambda m: click.echo(m, err=True))
    work = Path(work).expanduser().resolve()
    steps = plan_steps(recipe, student, work, launcher)
    jobs = jobs or recipe.jobs
    done: dict[int, str] = {}
    t0 = time.perf_counter()
    for group in _groups(steps):
        todo = []
        for i in group:
            step = steps[i]
            finished = is_done(work, step)
            if dry_run:
                click.echo(f"# {i + 1}/{len(steps)} {step.name}" + (" (done: the run skips it)" if finished else ""))
                click.echo(step.shell())
                done[i] = "planned"
            elif finished:
                say(f"[{i + 1}/{len(steps)}] {step.name}: done, skipped ({step.out})")
                done[i] = "skipped"
            else:
                todo.append(i)
        width = min(jobs, len(todo))
        for i in todo:
            say(f"[{i + 1}/{len(steps)}] {steps[i].name}: {steps[i].shell()}")
        if width <= 1:
            for i in todo:
                run_step(work, steps[i], echo=echo)
                done[i] = "ran"
            continue
        with ThreadPoolExecutor(width) as pool:  # each thread waits on its own subprocess
            futures = {i: pool.submit(run_step, work, steps[i], echo=echo, env=step_env(width),
                                      prefix=f"[{steps[i].name}] ") for i in todo}
        for i, future in futures.items():
            future.result()  # the first failure (in step order) stops the run; the others finished
            done[i] = "ran"
    done = [(steps[i].name, done[i]) for i in sorted(done)]
    if not dry_run and recipe.evaluate is not None:
        from merge.run_report import write_run_report

        write_run_report(recipe, work, steps, time.perf_counter() - t0)
    return done


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Branch-Merge recipes: the whole method (curate, train each branch, merge, evaluate) as one run."""


@main.command("run", help="Run RECIPE (a shipped recipe name or a recipe file) step by step in WORK.")
@click.argument("recipe")
@click.option("--student", default=None, help="The student model (folder or Hub id); default the recipe's.")
@click.option("--work", required=True, type=click.Path(file_okay=False), help="Folder for every step's output.")
@click.option("--launcher", default=None, help='How train is started, up to the module name, e.g. '
              '"torchrun --nproc_per_node 8 -m" or "deepspeed --num_gpus 8 --module" (default: this python -m).')
@click.option("--jobs", type=click.IntRange(1), default=None, help="How many curation, training or evaluation "
              "steps run at once, each with its share of the CPU threads (default: the recipe's jobs, else 1).")
@click.option("--dry-run", is_flag=True, help="Print every step's command (a shell script) and exit.")
@click.option("--quiet", is_flag=True, help="Do not echo the steps' output (it is in WORK/logs).")
def run_command(recipe, student, work, launcher, jobs, dry_run, quiet):
    try:
        r = load_recipe(recipe)
    except ConfigError as exc:
        fail("branch-merge", exc.problems)
    student = student or r.student
    if not student:
        fail("branch-merge", ["--student: give the student model (the recipe names none)"])
    t0 = time.perf_counter()
    try:
        results = run_recipe(r, student, work, launcher=launcher, dry_run=dry_run, echo=not quiet, jobs=jobs)
    except StepFailed as exc:
        click.echo(f"branch-merge: error: {exc}", err=True)
        click.echo(f"branch-merge: re-run the step with: {exc.step.shell()}", err=True)
        click.echo("branch-merge: (or re-run branch-merge run, which skips the finished steps; log: "
                   f"{Path(work).resolve() / 'logs' / (exc.step.name + '.log')})", err=True)
        sys.exit(1)
    if not dry_run:
        ran = sum(1 for _, s in results if s == "ran")
        wall = time.perf_counter() - t0
        click.echo(f"recipe {r.name}: {ran} step(s) ran, {len(results) - ran} skipped, wall time {_clock(wall)} "
                   f"({wall:.0f} s); merged model in {Path(work).resolve() / 'merged'}", err=True)
        if r.evaluate is not None:
            click.echo(f"results: {Path(work).resolve() / 'results.json'}; the run's card: "
                       f"{Path(work).resolve() / 'README.md'}", err=True)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s"


if __name__ == "__main__":
    main()
