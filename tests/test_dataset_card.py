"""The dataset card never claims more than report.json holds (issue 27): every number of its summary,
pass rate, funnel, drop reasons and lengths is checked against the report; unexecuted code reads "not
executed" and gives no pass rate; one citation; no absolute local path in what `curate push` uploads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.cli import main
from curation.output.push import card_for_repo, local_files
from tests.conftest import sandbox_unavailable

NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in NUMBER.findall(text)]


def curate(tmp_path: Path, domain: str, *args: str) -> tuple[str, dict]:
    out = tmp_path / domain
    result = CliRunner().invoke(main, [domain, *args, "--out", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return (out / "README.md").read_text(), json.loads((out / "report.json").read_text())


def check_numbers(card: str, report: dict) -> None:
    """Each number the card states, in order, from the report."""
    lines = card.splitlines()
    summary = lines[lines.index(f"# Branch-Merge {report['domain']} SFT set") + 2].split(", curated with")[0]
    v = report["verdicts"]
    unverified = v["kept"]["unverified"]
    want = [report["rows"]["train"]]
    if unverified:
        want += ([v["kept"]["verified"], sum(unverified.values())] if v["kept"]["verified"] else [])
        want += list(unverified.values())
    assert numbers(summary) == [*want, report["rows"]["source_rows"]], summary

    [rate] = [line for line in lines if line.startswith("Verification pass rate: ")]
    unchecked = list(v["unchecked"].values())
    if v["checked"]:
        assert numbers(rate) == [round(100 * report["pass_rate"], 1), v["passed"], v["checked"],
                                 *([sum(unchecked), *unchecked] if unchecked else [])], rate
        assert report["pass_rate"] == round(v["passed"] / v["checked"], 4)
    else:
        assert report["pass_rate"] is None and "%" not in rate and "**n/a**" in rate
        assert numbers(rate) == [sum(unchecked), *unchecked], rate
    verify = next(s for s in report["funnel"] if s["stage"] == "verify")
    assert sum(unchecked) + v["checked"] == verify["rows_in"]  # every sample the verifier saw, counted once

    table = {row[0]: row for row in (re.split(r"\s*\|\s*", line)[1:-1] for line in lines)
             if len(row) == 5 and row[0] in {s["stage"] for s in report["funnel"]}}
    for stage in report["funnel"]:
        name, rows_in, kept, rejected, top = table[stage["stage"]]
        assert [int(rows_in), int(kept), int(rejected)] == [stage["rows_in"], stage["kept"], stage["rejected_total"]]
        top_counts = [n for _, n in sorted(stage["rejected"].items(), key=lambda kv: -kv[1])[:3]]
        assert numbers(top) == top_counts, (name, top)
    reasons = [re.split(r"\s*\|\s*", line)[1:-1] for line in lines if re.match(r"\| \w+ \| `\w+` \| \d+ \|$", line)]
    assert sorted((s, r.strip("`"), int(n)) for s, r, n in reasons) == sorted(
        (s["stage"], r, n) for s in report["funnel"] for r, n in s["rejected"].items())

    head = lines.index("| count | min | p10 | median | mean | p90 | max |")
    length = report["length"]["train"]
    if length["count"]:
        assert numbers(lines[head + 2]) == [length[k] for k in ("count", "min", "p10", "median", "mean", "p90", "max")]


def test_code_without_the_sandbox_claims_no_verification_and_no_pass_rate(tmp_path):
    card, report = curate(tmp_path, "code")
    check_numbers(card, report)
    assert report["pass_rate"] is None and report["verdicts"]["checked"] == 0
    assert report["verdicts"]["kept"] == {"verified": 0, "unverified": {"not_executed": report["rows"]["train"]}}
    assert "verified teacher responses" not in card and "none of them verified (not executed 52)" in card
    assert "Verification pass rate: **n/a**" in card and "code NOT executed" in card
    assert "without `--sandbox`" in card


@pytest.mark.skipif(sandbox_unavailable() is not None, reason=str(sandbox_unavailable()))
def test_code_with_the_sandbox_rates_executed_samples_only(tmp_path):
    card, report = curate(tmp_path, "code", "--sandbox")
    check_numbers(card, report)
    # the response without code was not executed: left out of the rate, not counted as a failure
    assert report["verdicts"]["unchecked"] == {"no_code": 1}
    assert f"**{100 * report['pass_rate']:.1f}%**: 34 passed of the 52 samples the verifier checked" in card
    assert "34 verified teacher responses for code" in card


@pytest.mark.parametrize("domain", ["math", "science"])
def test_every_number_on_the_card_is_the_reports(tmp_path, domain):
    card, report = curate(tmp_path, domain)
    check_numbers(card, report)
    assert report["verdicts"]["unchecked"]  # the demo sets hold golds the verifier cannot check


def test_one_citation_section(tmp_path):
    card, _ = curate(tmp_path, "math")
    assert card.count("## Citation") == 1 and card.count("```bibtex") == 1 and card.count("@misc{") == 1
    assert "Sun, Lin and Zhao, Guangxiang" in card and "2503.04872" in card


def test_what_push_uploads_names_no_absolute_local_path(tmp_path, monkeypatch, shared_data):
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(run)
    src = run / "problems.jsonl"  # everything given as an absolute path
    src.write_text((Path(__file__).parents[1] / "curation/demo/math_demo.jsonl").read_text())
    out = run / "sets" / "math"
    bench = shared_data / "math" / "aime24.jsonl"
    result = CliRunner().invoke(main, ["math", "--source", str(src), "--out", str(out), "--quiet", "--benchmark",
                                       f"aime24={bench}#prompt", "--no-benchmark", "aime25,gpqa_diamond,math500"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    uploaded = local_files(out, "org/math-set")
    texts = {name: (c if isinstance(c, bytes) else c.read_bytes()).decode() for name, c in uploaded.items()
             if name.endswith((".md", ".json", ".yaml"))}
    assert set(texts) == {"README.md", "report.json", "recipe.yaml", "index/index.json"}
    absolute = re.compile(r"(?<![.\w])(?:" + "|".join(re.escape(str(p)) for p in (tmp_path, shared_data)) + ")")
    for name, text in texts.items():
        assert not absolute.findall(text), (name, [text[max(0, m.start() - 80):m.end() + 40]
                                                   for m in absolute.finditer(text)][:3])
    report = json.loads(texts["report.json"])
    assert report["source"]["name"] == "problems.jsonl" and report["source"]["files"] == ["problems.jsonl"]
    assert report["work_dir"] == "sets/.work/math"
    assert report["decontamination"]["benchmarks"]["aime24"]["source"].endswith("math/aime24.jsonl#prompt")
    assert 'load_dataset("org/math-set", split="train")' in texts["README.md"]
    assert "--data org/math-set`" in texts["README.md"] and "sets/math" not in texts["README.md"]
    local_card = (out / "README.md").read_text()  # before the push: the folder relative to where curate ran
    assert 'load_dataset("sets/math", split="train")' in local_card and "--data sets/math`" in local_card
    pushed = card_for_repo(local_card, "o/n")
    assert pushed.count('load_dataset("o/n"') == 3 and "--data o/n`" in pushed and "sets/math" not in pushed
