"""``python -m merge.mini.build --out DIR``: everything the miniature starts from, from one seed.

Writes, deterministically (the same files for the same flags):

- ``sources/DOMAIN.jsonl``: the noisy teacher, a replay source for ``curate DOMAIN --source``: per
  problem ``--responses`` traces, each right with probability ``--p-right`` and otherwise a
  plausible slip, so that verification (rejection sampling) decides what an expert learns;
- ``dev/DOMAIN.jsonl`` and ``test/DOMAIN.jsonl``: benchmark rows for ``evaluate --benchmark-file``
  (``merge --search`` reads only the dev sets);
- ``pretrain/train.jsonl``: right traces of all three domains, easier (``--pretrain`` per domain)
  and a few at the experts' level (``--pretrain_hard``; with ``--pretrain_hard_p_right`` below 1
  some of those are the teacher's slips, a base distilled on unverified traces), which make the
  base student (``train`` on ``init/``): it knows the formats and a little of each skill;
- ``replay/train.jsonl``: ``--replay`` of each domain's pretraining traces, a small rehearsal set
  (the shipped recipe's experts rehearse a sample of the whole ``pretrain/`` set instead: at this
  size an expert trained on one domain alone forgets the others outright);
- ``unverified/DOMAIN/train.jsonl``: the teacher's first trace of every source problem, right or
  wrong (what training without verification sees): the recipe distils the base on all three, as
  DeepSeek-R1-Distill was distilled on R1's traces, and math's is the ablation's set;
- ``init/``: the tokenizer (trained on this text) and a random tiny Qwen2.

No test or dev problem's text appears in another split. A source problem's text is the
user message as ``evaluate`` renders a benchmark row of the domain (the domain's prompt, science
with its lettered options), so the experts are trained on what they are asked. Science shares its
fact table between the splits by design: the skill is recalling it.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from merge.mini.tasks import TASKS

DOMAINS = tuple(TASKS)


@dataclass
class MiniConfig:
    seed: int = 0
    sources: int = 1500  # source problems per domain
    responses: int = 3  # teacher traces per source problem
    p_right: float = 0.5  # chance that a trace is right
    dev: int = 100
    test: int = 200
    pretrain: int = 300  # right traces per domain for the base student
    pretrain_hard: int = 0  # and traces per domain at the experts' level: a little of each skill
    pretrain_hard_p_right: float = 1.0  # chance that such a trace is right (below 1: a base distilled unverified)
    replay: int = 150  # of them per domain in replay/ (what each expert rehearses; 0: none)
    math_level: int = 3  # operands of 2 to this many digits
    pretrain_math_level: int = 2
    code_level: int = 8  # kinds of function task
    pretrain_code_level: int = 8
    science_level: int = 40  # elements of the fact table asked about
    pretrain_science_level: int = 40
    hidden: int = 128
    layers: int = 4
    vocab: int = 512

    def level(self, domain: str, split: str) -> int:
        return getattr(self, f"{'pretrain_' if split == 'pretrain' else ''}{domain}_level")


def user_message(domain: str, row: dict) -> str:
    """What ``evaluate`` sends for a benchmark row of ``domain`` (its prompt, science's options)."""
    from curation import DOMAINS as REGISTRY
    from curation.teachers import build_prompt

    return build_prompt(domain, row["problem"], REGISTRY[domain].reference(row))


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "spec"}


def make_splits(cfg: MiniConfig) -> dict[str, dict[str, list[dict]]]:
    """``{split: {domain: rows}}`` for test, dev, sources and pretrain. A test or dev problem's text
    appears in no other split; texts are unique within a split (a split of a domain whose problems
    run out, science's fact questions, holds what there is)."""
    out: dict[str, dict[str, list[dict]]] = {}
    for domain in DOMAINS:
        task, held = TASKS[domain], set()
        rng = random.Random(f"{cfg.seed}:{domain}")
        for split, n in (("test", cfg.test), ("dev", cfg.dev), ("sources", cfg.sources), ("pretrain", cfg.pretrain),
                         ("pretrain_hard", cfg.pretrain_hard)):
            rows, seen = [], set()
            for _ in range(100 * n):
                if len(rows) == n:
                    break
                row = task.problem(rng, cfg.level(domain, split))
                if row["problem"] in held or row["problem"] in seen:
                    continue
                seen.add(row["problem"])
                rows.append({"id": f"{domain}-{split}-{len(rows):05d}", **row})
            if split in ("test", "dev"):
                held |= seen
            out.setdefault(split, {})[domain] = rows
    return out


def teacher_rows(domain: str, rows: list[dict], cfg: MiniConfig) -> list[dict]:
    """Replay rows: each problem as the teacher was asked it, with ``cfg.responses`` noisy traces."""
    task, rng = TASKS[domain], random.Random(f"{cfg.seed}:{domain}:teacher")
    out = []
    for row in rows:
        responses = [task.trace(row["spec"], rng, rng.random() >= cfg.p_right) for _ in range(cfg.responses)]
        out.append({**_public(row), "problem": user_message(domain, row), "responses": responses,
                    "finish_reasons": ["stop"] * len(responses)})
    return out


def conversations(domain: str, rows: list[dict], traces: list[str]) -> list[dict]:
    return [{"messages": [{"role": "user", "content": user_message(domain, row)},
                          {"role": "assistant", "content": trace}], "domain": domain}
            for row, trace in zip(rows, traces, strict=True)]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def build(cfg: MiniConfig, out: Path) -> dict:
    """Write every file of the miniature's start into ``out``; returns the counts written."""
    from merge.mini.student import build_model, build_tokenizer

    splits = make_splits(cfg)
    counts: dict = {}
    for split in ("test", "dev"):
        for domain, rows in splits[split].items():
            write_jsonl(out / split / f"{domain}.jsonl", [_public(r) for r in rows])
    pretrain, rehearsal = [], []
    for domain in DOMAINS:
        rows = splits["sources"][domain]
        replay = teacher_rows(domain, rows, cfg)
        write_jsonl(out / "sources" / f"{domain}.jsonl", replay)
        write_jsonl(out / "unverified" / domain / "train.jsonl",
                    conversations(domain, rows, [r["responses"][0] for r in replay]))
        rng = random.Random(f"{cfg.seed}:{domain}:pretrain")
        pre = splits["pretrain"][domain]
        convs = conversations(domain, pre, [TASKS[domain].trace(r["spec"], rng, False) for r in pre])
        hard = splits["pretrain_hard"][domain]
        noisy = cfg.pretrain_hard_p_right < 1  # only then a draw per trace: the default's files stay as they were
        pretrain += convs + conversations(domain, hard, [
            TASKS[domain].trace(r["spec"], rng, noisy and rng.random() >= cfg.pretrain_hard_p_right) for r in hard])
        rehearsal += convs[:cfg.replay]
        counts[domain] = {split: len(splits[split][domain]) for split in splits}
    random.Random(cfg.seed).shuffle(pretrain)
    write_jsonl(out / "pretrain" / "train.jsonl", pretrain)
    if cfg.replay:
        random.Random(f"{cfg.seed}:replay").shuffle(rehearsal)
        write_jsonl(out / "replay" / "train.jsonl", rehearsal)
    texts = [m["content"] for row in pretrain for m in row["messages"]]
    texts += [r["problem"] + "\n" + r["responses"][0] for d in DOMAINS
              for r in teacher_rows(d, splits["sources"][d][:300], cfg)]
    tokenizer = build_tokenizer(texts, out / "init", cfg.vocab)
    build_model(out / "init", tokenizer, hidden=cfg.hidden, layers=cfg.layers, seed=cfg.seed)
    (out / "mini.json").write_text(json.dumps({"config": asdict(cfg), "counts": counts}, indent=1) + "\n")
    return counts


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write into.")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help=f"A setting of the miniature (repeatable): {', '.join(MiniConfig.__dataclass_fields__)}.")
def main(out, settings):
    """Write the miniature's noisy teacher, dev and test sets, pretraining set and untrained student."""
    cfg, problems = MiniConfig(), []
    for item in settings:
        name, _, value = item.partition("=")
        if name not in MiniConfig.__dataclass_fields__:
            problems.append(f"--set {item}: unknown setting {name!r}")
            continue
        kind = type(getattr(cfg, name))
        try:
            setattr(cfg, name, kind(value))
        except ValueError:
            problems.append(f"--set {item}: {name} must be {kind.__name__}")
    if problems:
        for p in problems:
            click.echo(f"mini: error: {p}", err=True)
        raise SystemExit(2)
    counts = build(cfg, Path(out))
    click.echo(f"mini: wrote {Path(out)}: " + "; ".join(f"{d} {c}" for d, c in counts.items()), err=True)


if __name__ == "__main__":
    main()
