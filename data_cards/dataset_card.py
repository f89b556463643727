"""The dataset card (README.md) of a curated folder, rendered from its typed report and recipe."""

from __future__ import annotations

import json
import os
from pathlib import Path
from string import Template
from typing import Any

import pyarrow.parquet as pq
import yaml

from data_cards.citation import CITATION
from data_cards.plots import count_bars, length_histogram

# The report is curation's RunReport (typed sections: source, rows, length, verifier); it is
# read by attribute here without importing curation, which imports this package.
RunReport = Any

TEMPLATE = Path(__file__).parent / "templates" / "dataset_card.md"


def size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < bound:
            return label
    return "10M<n<100M"


def yaml_header(report: RunReport, license: str) -> dict:
    return {
        "license": license,
        "language": ["en"],
        "task_categories": ["text-generation"],
        "tags": ["reasoning", "distillation", "branch-merge", "synthetic", *report.card_tags],
        "size_categories": [size_category(report.rows.train)],
        "pretty_name": f"Branch-Merge {report.domain} SFT set",
        # Exact shard lists, not globs: `datasets` caches a local folder by its card's configs, so
        # naming the (content-hashed) files is what makes it notice a re-curated folder.
        "configs": [
            {"config_name": "default", "data_files": [{"split": "train", "path": report.shards["train"]}],
             "default": True},
            {"config_name": "rejected", "data_files": [{"split": "train", "path": report.shards["rejected"]}]},
        ],
    }


def _funnel_rows(funnel: list[dict]) -> str:
    lines = []
    for s in funnel:
        top = ", ".join(f"{r} ({n})" for r, n in sorted(s["rejected"].items(), key=lambda kv: -kv[1])[:3]) or "-"
        lines.append(f"| {s['stage']} | {s['rows_in']} | {s['kept']} | {s['rejected_total']} | {top} |")
    return "\n".join(lines)


def _reason_rows(funnel: list[dict]) -> str:
    rows = [f"| {s['stage']} | `{r}` | {n} |" for s in funnel for r, n in sorted(s["rejected"].items(),
                                                                                 key=lambda kv: -kv[1])]
    return "\n".join(rows) or "| - | - | 0 |"


def _isolation_text(info: dict | None) -> str:
    if not info:
        return "n/a (no code executed)"
    if not info.get("unprivileged_uid"):
        return "NONE: the sandbox could not start (" + str(info.get("error", "unknown")) + ")"
    return (f"{info['bwrap']}; unprivileged uid; namespaces {', '.join(info['namespaces'])}; rlimits; "
            f"cgroup v2 limits {'on' if info.get('cgroup_v2') else 'unavailable on this host'}")


def _near_dedup_text(info: dict) -> str:
    if not info.get("enabled"):
        return "off"
    text = (f"MinHash LSH, Jaccard >= {info['threshold']}, {info['num_perm']} permutations, word "
            f"{info['shingle']}-grams of math-aware tokens; lowest problem_id of each cluster kept; "
            f"{info.get('clusters_total', 0)} clusters")
    if info.get("against"):
        text += f"; also against `{info['against']}`"
    return text


def _decontam_text(info: dict) -> str:
    if not info.get("enabled"):
        return "off"
    parts = []
    for name, b in sorted((info.get("benchmarks") or {}).items()):
        status = f"{b['items']} items" if b["status"] == "checked" else "NOT CHECKED (" + b["status"] + ")"
        parts.append(f"{name} (`{b['source']}`, {status})")
    how = (f"word {info['ngram']}-grams: a problem holding {info.get('min_overlap', 0.5):.0%} of an item's "
           f"{info['ngram']}-grams is dropped (items under {info['ngram']} words: exact text)")
    if info.get("fuzzy"):
        how += f" + MinHash similarity >= {info['fuzzy_threshold']}"
    return f"{how} against " + (", ".join(parts) if parts else "no benchmarks") + _rephrase_text(info.get("rephrase"))


def _rephrase_text(r: dict | None) -> str:
    """Rephrase decontamination (``--decontam-judge``): what was retrieved, judged and flagged, per benchmark."""
    if not r:
        return ""
    per = "; ".join(f"{name}: {c['candidates']} candidates, {c['judged']} judged, {c['flagged']} flagged"
                    for name, c in sorted(r["per_benchmark"].items()))
    unjudged = f", {r['unjudged']} dropped as not judged (a failed request or an off-format reply)" \
        if r.get("unjudged") else ""
    return (f". Rephrased and translated items: the top {r['k']} benchmark items of each of {r['problems']} problems "
            f"by {r['retrieval']} retrieval ({r['candidates_per_problem']} candidates per problem) were put to the LLM "
            f"judge `{r['judge']}`, which flagged {r['flagged']} problems as the same problem as a benchmark item"
            f"{unjudged}" + (f" ({per})" if per else ""))


def _example(out_dir: Path, report: RunReport) -> str:
    files = report.shards["train"]
    if not files:
        return "{}"
    table = pq.read_table(out_dir / files[0]).slice(0, 1).to_pylist()
    if not table:
        return "{}  // no rows kept"
    row = table[0]
    for msg in row["messages"]:
        if len(msg["content"]) > 600:
            msg["content"] = msg["content"][:300] + " [...] " + msg["content"][-200:]
    return json.dumps(row, indent=2, ensure_ascii=False, default=str)


def _nothing_kept_text(report: RunReport) -> str:
    reasons = sorted(((n, r, s["stage"]) for s in report.funnel for r, n in s["rejected"].items()),
                     key=lambda t: (-t[0], t[1]))
    top = ", ".join(f"`{r}` {n} ({stage})" for n, r, stage in reasons[:3]) or "none (the source gave no rows)"
    # datasets <= 5.2 cannot build a split of zero rows (make_file_instructions skips it and
    # ArrowReader raises), however the Parquet file is written; streaming and Parquet readers can.
    return ("\n\n**This run kept no rows.** Top drop reasons: " + top + ". The train split is an empty "
            "Parquet shard with the full schema: `load_dataset(..., streaming=True)`, polars and pyarrow read it "
            "as zero rows, while `load_dataset` without streaming raises `Instruction \"train\" corresponds to "
            "no data!` for any empty split. The `rejected` config holds every dropped row with its reason.")


def _teacher_text(t: dict) -> str:
    text = f"`{t['model']}` via `{t['backend']}`"
    if t["backend"] != "replay":
        budget = t.get("budget") or t["samples"] * t["rounds"]
        text += (f"; rejection sampling: {t['samples']} sample(s) per problem per round, up to {t['rounds']} "
                 f"round(s), until {t['want']} verified (budget {budget} per problem)")
    return text


def _generation_text(g: dict | None) -> str:
    if not g:
        return "responses replayed from the source (no generation)"
    failed = ", ".join(f"{k} {v}" for k, v in sorted(g["failed"].items())) or "none"
    rate = f"; {g['requests_per_s']} requests/s, {g['completion_tokens_per_s']} completion tokens/s" \
        if g.get("requests_per_s") else ""
    return (f"{g['requests']:,} requests ({g['answered']:,} answered; failed after retries: {failed}); "
            f"{g['prompt_tokens']:,} prompt + {g['completion_tokens']:,} completion tokens{rate}{_cost_text(g)}")


def _cost_text(g: dict) -> str:
    """The price of the answers, when the run was given prices (``generation.cost``)."""
    c = g.get("cost")
    if not c:
        return ""
    batch = f" (answers from batch files at {c['batch_price_factor']:g} of that)" if c["batch"]["answers"] else ""
    return (f"; cost ${g['cost_usd']:,.4f} for the {c['live']['answers'] + c['batch']['answers']:,} answers received "
            f"from the teacher and ${c['reused']['usd']:,.4f} for the {c['reused']['answers']:,} reused from the "
            f"response store (paid by earlier runs), at ${c['price_input']:g} / ${c['price_output']:g} per million "
            f"prompt / completion tokens{batch}")


def _local_name(folder: Path) -> str:
    """The folder as a card names it before it is pushed: relative to the folder the command ran in
    (``curate push`` puts the repo id in its place)."""
    return os.path.relpath(Path(folder).resolve(), Path.cwd().resolve()) if Path(folder).is_absolute() else str(folder)


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason.replace('_', ' ')} {n:,}" for reason, n in counts.items())


def _pending_text(report: RunReport) -> str:
    p = report.pending
    if not p:
        return ""
    return (f"\n\n**Incomplete:** the run stopped at its spending limit (`--budget-usd`): {p['problems']:,} problems "
            f"in {p['parts']:,} part(s) wait for {p['requests']:,} teacher answers and are not in this set yet "
            "(re-running the same command continues).")


def _summary_text(report: RunReport) -> str:
    """What the rows are: "verified" only for rows whose verdict passed; the others said as they are."""
    v, n = report.verdicts, report.rows.train
    unverified = v["kept"]["unverified"] if v is not None else {}
    if v is None:
        rows = f"{n:,} teacher responses"
    elif not unverified:
        rows = f"{n:,} verified teacher responses"
    elif not v["kept"]["verified"]:
        rows = f"{n:,} teacher responses, none of them verified ({_reasons(unverified)})"
    else:
        rows = (f"{n:,} teacher responses ({v['kept']['verified']:,} verified, {sum(unverified.values()):,} kept "
                f"unverified: {_reasons(unverified)})")
    text = (f"{rows} for {report.domain} from {report.rows.source_rows:,} source rows, curated with the Branch-Merge "
            "distillation toolkit (the TinyR1-32B-Preview recipe).")
    if "not_executed" in unverified:
        text += (f" The code of {unverified['not_executed']:,} of them was not executed: the set was curated without "
                 "`--sandbox`, so only a static check (the code parses) ran, and none of those rows is verified.")
    return text


def _pass_rate_text(report: RunReport) -> str:
    """The pass rate over the samples the verifier checked (code: executed), with what it leaves out."""
    v = report.verdicts
    if v is None:
        return "n/a (the work folder this set was published from did not record verdict counts)"
    unchecked = sum(v["unchecked"].values())
    if not v["checked"]:
        return (f"**n/a**: none of the {unchecked:,} samples that reached the verifier was checked "
                f"({_reasons(v['unchecked'])})")
    text = f"**{report.pass_rate:.1%}**: {v['passed']:,} passed of the {v['checked']:,} samples the verifier checked"
    if unchecked:
        text += f"; left out, as not checked: {unchecked:,} ({_reasons(v['unchecked'])})"
    return text


def render_dataset_card(report: RunReport, recipe: dict, out_dir: Path, *, lengths: list[int] | None = None,
                        repo_id: str | None = None) -> Path:
    """Write ``README.md`` and its plots into ``out_dir``; returns the card's path."""
    out_dir = Path(out_dir)
    lengths = lengths or []
    unit = report.length.unit
    length_histogram(lengths, unit, out_dir / "plots" / "response_lengths.png")
    source_section = ""
    if len(report.per_source or {}) > 1:
        count_bars(report.per_source, "Kept rows per source", out_dir / "plots" / "per_source.png")
        source_section = "## Rows per source\n\n![rows per source](plots/per_source.png)\n"
    t = report.teacher
    filters = recipe["filters"]
    st = report.length.train
    length_row = ("| " + " | ".join(str(st.get(k, "-")) for k in ("count", "min", "p10", "median", "mean", "p90",
                                                                  "max")) + " |")
    verdict = report.verifier
    src = report.source
    source_text = src.hub_id or src.name
    if src.subset:
        source_text += f" (subset `{src.subset}`, split `{src.split}`)"
    if src.fields:
        source_text += "; fields " + ", ".join(f"{k}←`{v}`" for k, v in sorted(src.fields.items()))
    values = {
        "yaml_header": yaml.safe_dump(yaml_header(report, recipe["output"].get("license", "apache-2.0")),
                                      sort_keys=False).strip(),
        "title": f"Branch-Merge {report.domain} SFT set",
        "summary": (_summary_text(report)
                    + (_nothing_kept_text(report) if report.rows.train == 0 else "") + _pending_text(report)),
        "load_path": repo_id or _local_name(out_dir),
        "domain": report.domain,  # the LLaMA-Factory entry's name in the "Train on it" recipe
        "source": source_text,
        "teacher": _teacher_text(t),
        "generation": _generation_text(report.generation),
        "sampling": f"temperature {t['temperature']}, top_p {t['top_p']}, max_tokens {t['max_tokens']}, "
                    f"seed {t['seed']}",
        "verifier": (f"{report.domain} verifier, hard timeout {verdict.timeout_s} s per sample; "
                     f"unverifiable samples {'kept' if verdict.keep_unverified else 'dropped'}"
                     + ("; code NOT executed (no `--sandbox`: a static check only)"
                        if "not_executed" in ((report.verdicts or {}).get("unchecked") or {}) else "")
                     + (f"; LLM judge `{verdict.judge['model']}` for what the parsers could not decide: "
                        f"{verdict.decided_by.get('judge', 0)} kept verdicts decided by it"
                        if getattr(verdict, "judge", None) else "")),
        "dedup": "on (normalised text, lowest problem_id kept)" if recipe["dedup"]["exact"] else "off",
        "near_dedup": _near_dedup_text(report.near_dedup or {}),
        "decontamination": _decontam_text(report.decontamination or {}),
        "filters": (f"reasoning block {'optional' if filters['allow_no_think'] else 'required'}; finish reason "
                    f"{'must be stop' if filters['require_stop'] else 'not checked'}; max length "
                    f"{report.length.max_length:,} {unit}; repetition loops dropped; cut-off traces (a reasoning "
                    f"block never closed, in any tag style) dropped; reasoning published "
                    f"{'as <think>...</think>' if filters.get('normalize_reasoning', True) else 'in the source tags'}"),
        "selection": f"`--keep {recipe['select']['keep']}`",
        "isolation": _isolation_text(report.isolation),
        "conservation": "holds" if report.conservation else "VIOLATED",
        "funnel_rows": _funnel_rows(report.funnel),
        "reason_rows": _reason_rows(report.funnel),
        "pass_rate": _pass_rate_text(report),
        "length_unit": unit,
        "length_row": length_row,
        "length_plot": "plots/response_lengths.png",
        "source_section": source_section,
        "example": _example(out_dir, report),
        "recipe": yaml.safe_dump(recipe, sort_keys=False).strip(),
        "citation": CITATION,
        "versions": ", ".join(f"{k} {v}" for k, v in report.versions.items() if v),
    }
    text = Template(TEMPLATE.read_text()).safe_substitute(values)
    path = out_dir / "README.md"
    path.write_text(text)
    return path
