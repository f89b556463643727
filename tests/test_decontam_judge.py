"""Rephrase decontamination (issue 31): retrieval over the benchmark items, then the LLM judge.

Retrieval is measured on the real rephrased pairs (recall@5 per kind, with the 5,000 MATH test
problems as distractors); the judge is the scripted server on loopback, answering
``VERDICT: SAME`` exactly for the prompts that show a true pair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from curation.config import TeacherConfig
from curation.dedup import LexicalIndex
from curation.dry_run.scripted_server import ServerProcess
from curation.stages.decontam_judge import PROMPT, parse_reply
from tests.conftest import read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
N_PAIRS = 12
DIFFERENT = "They ask for different things.\nVERDICT: DIFFERENT"


def test_reply_format_is_strict():
    assert parse_reply("Same task, renamed.\nVERDICT: SAME") is True
    assert parse_reply("<think>compare</think>\nOther numbers.\nVERDICT: DIFFERENT\n") is False
    for off in ("VERDICT: EQUIVALENT", "They are the same.", "VERDICT: SAME, probably", "VERDICT: SAME\nok", ""):
        assert parse_reply(off) is None


def rephrased_pairs(shared_data: Path) -> list[dict]:
    return read_jsonl(shared_data / "dedup/rephrased_benchmark_pairs.jsonl")


def test_retrieval_recall_at_5_is_at_least_95_percent_for_every_kind(shared_data, capsys):
    rows = rephrased_pairs(shared_data)
    originals = list(dict.fromkeys(r["original"] for r in rows))
    distractors = [r["problem"] for r in read_jsonl(shared_data / "math/MATH_test.jsonl")]
    index = LexicalIndex(originals + distractors)
    where = {text: i for i, text in enumerate(originals)}
    found = index.candidates([r["rephrased"] for r in rows], 5)
    hits, counts = defaultdict(int), defaultdict(int)
    for row, cands in zip(rows, found, strict=True):
        counts[row["kind"]] += 1
        hits[row["kind"]] += where[row["original"]] in [j for j, _ in cands]
    assert all(len(c) == 5 for c in found)  # the cost: 5 candidates per problem to judge
    recall = {kind: hits[kind] / counts[kind] for kind in counts}
    with capsys.disabled():
        print(f"\n[rephrase retrieval, {len(originals) + len(distractors)} items] recall@5 "
              + ", ".join(f"{k} {v:.3f} ({hits[k]}/{counts[k]})" for k, v in sorted(recall.items())))
    assert set(recall) == {"english_rephrase", "english_rephrase_question_only", "python_rephrase",
                           "translated_to_c", "translated_to_js"}
    assert min(recall.values()) >= 0.95, recall


def test_ties_go_to_the_lower_item_and_items_sharing_nothing_are_left_out():
    index = LexicalIndex(["alpha beta gamma delta", "alpha beta gamma delta", "omega psi chi phi"])
    assert [j for j, _ in index.candidates(["alpha beta gamma delta"], 5)[0]] == [0, 1]
    assert index.candidates(["zzz"], 5) == [[]]


# -- the run ---------------------------------------------------------------------------------------

def _case(tmp_path: Path, shared_data: Path) -> tuple[Path, dict, list[dict], list[dict]]:
    """A source of 12 English rephrasings of GSM8K test items and 12 distinct MATH train problems, and a
    judge that says SAME exactly for a prompt showing a rephrasing with its original."""
    pairs = [r for r in rephrased_pairs(shared_data) if r["kind"] == "english_rephrase"][:N_PAIRS]
    distinct = json.loads((shared_data / "math/MATH_train.json").read_text())[:N_PAIRS]
    rows = [{"id": f"r{i}", "problem": r["rephrased"]} for i, r in enumerate(pairs)]
    rows += [{"id": f"d{i}", "problem": t["problem"]} for i, t in enumerate(distinct)]
    src = write_jsonl(tmp_path / "src.jsonl", [{**r, "answer": "7", "responses": ["<think>w</think> \\boxed{7}"]}
                                               for r in rows])
    script = {"rules": [{"match": PROMPT.format(problem=r["rephrased"], item=r["original"]),
                         "answers": ["The same eggs, reworded.\nVERDICT: SAME"]} for r in pairs],
              "default": DIFFERENT}
    return src, script, pairs, rows


def _curate(tmp_path: Path, shared_data: Path, src: Path, base_url: str, *extra: str):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "curation.cli", "math", "--source", str(src), "--quiet", "--out",
           str(tmp_path / "out"), "--no-benchmark", "aime24,aime25,gpqa_diamond",
           "--benchmark", f"gsm8k={shared_data / 'math/gsm8k_test.jsonl'}#question",
           "--benchmark", f"math500={shared_data / 'math/math500.jsonl'}",
           "--judge", "openai", "--judge-model", "judge-model", "--judge-base-url", base_url, *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _judge_requests(log: Path) -> list[dict]:
    return [q for q in read_jsonl(log) if "prompt" in q] if log.exists() else []


def test_the_judge_rejects_rephrasings_keeps_distinct_problems_and_is_asked_once(tmp_path, shared_data):
    src, script, pairs, rows = _case(tmp_path, shared_data)
    log = tmp_path / "judge.jsonl"
    with ServerProcess(script, log=str(log), models=["judge-model"]) as srv:
        off = _curate(tmp_path, shared_data, src, srv.base_url)  # the default: n-grams only
        assert off.returncode == 0, off.stderr
        funnel = json.loads((tmp_path / "out/report.json").read_text())["funnel"]
        assert next(s for s in funnel if s["stage"] == "decontaminate")["kept"] == 2 * N_PAIRS  # they miss all 12
        assert _judge_requests(log) == []

        r = _curate(tmp_path, shared_data, src, srv.base_url, "--decontam-judge")
        assert r.returncode == 0, r.stderr
        asked = _judge_requests(log)
        first = pl.read_parquet(tmp_path / "out/data"), pl.read_parquet(tmp_path / "out/rejected")
        again = _curate(tmp_path, shared_data, src, srv.base_url, "--decontam-judge")
        restarted = _curate(tmp_path, shared_data, src, srv.base_url, "--decontam-judge", "--restart")
        assert again.returncode == 0 and restarted.returncode == 0, again.stderr + restarted.stderr
    assert len(asked) == 5 * len(rows) and all(q["model"] == "judge-model" for q in asked)
    assert len(_judge_requests(log)) == len(asked)  # the re-runs (one redoing every stage) sent no request
    train, rejected = first
    kept = [m[0]["content"] for m in train["messages"].to_list()]
    assert sorted(kept) == sorted(r["problem"] for r in rows if r["id"].startswith("d"))
    flagged = rejected.filter(pl.col("reason") == "contaminated_rephrase")
    assert flagged.height == rejected.height == N_PAIRS and set(flagged["stage"]) == {"decontaminate"}
    original = {p["rephrased"]: p["original"] for p in pairs}
    for problem, detail in zip(flagged["problem"], flagged["detail"], strict=True):
        assert detail.startswith("gsm8k#") and original[problem] in detail  # the item, verbatim
        assert detail.rstrip().endswith("The same eggs, reworded.\nVERDICT: SAME")  # and the judge's reply
    assert pl.read_parquet(tmp_path / "out/data").equals(train)  # the restarted run published the same rows
    report = json.loads((tmp_path / "out/report.json").read_text())
    rephrase = report["decontamination"]["rephrase"]
    assert (rephrase["candidates"], rephrase["judged"], rephrase["flagged"]) == (5 * len(rows), 5 * len(rows), 12)
    assert rephrase["asked_this_run"] == 0 and rephrase["per_benchmark"]["gsm8k"]["flagged"] == N_PAIRS
    assert sum(c["candidates"] for c in rephrase["per_benchmark"].values()) == 5 * len(rows)
    card = (tmp_path / "out/README.md").read_text()
    assert "flagged 12 problems" in card and "gsm8k: " in card and "judged" in card


def test_embeddings_from_an_openai_endpoint_add_candidates(tmp_path, shared_data):
    src, script, pairs, rows = _case(tmp_path, shared_data)
    with ServerProcess(script, models=["judge-model", "embed-model"]) as srv:
        r = _curate(tmp_path, shared_data, src, srv.base_url, "--decontam-judge", "--decontam-retrieval", "both",
                    "--decontam-embed-model", "embed-model", "--decontam-embed-base-url", srv.base_url)
        assert r.returncode == 0, r.stderr
        bad = _curate(tmp_path, shared_data, src, srv.base_url, "--decontam-judge", "--decontam-retrieval",
                      "embeddings", "--decontam-embed-model", "nope", "--decontam-embed-base-url", srv.base_url)
    rephrase = json.loads((tmp_path / "out/report.json").read_text())["decontamination"]["rephrase"]
    assert rephrase["retrieval"] == "both" and rephrase["flagged"] == N_PAIRS
    assert 5 < rephrase["candidates_per_problem"] <= 10  # the union of two top-5 lists
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith(
        "curate: error: decontaminate.embed_base_urls: cannot embed with 'nope': ")


def test_an_undecided_candidate_drops_its_problem_and_a_dead_judge_stops_the_run(tmp_path):
    from curation.config import CurateConfig
    from curation.settings import ConfigError
    from curation.stages.decontam_judge import rephrase_matches
    from curation.stages.llm_judge import LLMJudge

    bench = {"b": ["Alice has 3 apples and buys 4 more. How many apples does she have?",
                   "A train leaves at noon at 60 km/h. How far has it gone by 3 pm?"]}
    problems = ["Alice owns 3 apples and purchases another 4. What is her apple count now?",
                "Bob has 5 pears and eats 2. How many pears are left?"]
    cfg = CurateConfig()
    cfg.decontaminate.judge, cfg.decontaminate.judge_k = True, 2
    script = {"rules": [{"match": "Bob has 5 pears", "answers": ["Hard to say."]}], "default": DIFFERENT}
    with ServerProcess(script, models=["j"]) as srv:
        judge = LLMJudge(TeacherConfig(backend="openai", model="j", base_urls=[srv.base_url], temperature=0.0,
                                       max_tokens=64, max_retries=0), tmp_path / "answers")
        marks, info = rephrase_matches(["p0", "p1"], problems, bench, cfg, None, judge)
        judge.close()
    assert marks[0] is None  # both candidates judged different: kept
    assert marks[1][0] == "decontam_unjudged" and "off-format reply 'Hard to say.'" in marks[1][1]
    assert (info["candidates"], info["judged"], info["unjudged"]) == (4, 2, 1)

    dead = {"rules": [{"match": "Problem A", "status": 400}]}
    with ServerProcess(dead, models=["j"]) as srv:
        judge = LLMJudge(TeacherConfig(backend="openai", model="j", base_urls=[srv.base_url], temperature=0.0,
                                       max_tokens=64, max_retries=0), tmp_path / "other-answers")
        with pytest.raises(ConfigError, match="every one of the 4 requests to the judge 'j' failed"):
            rephrase_matches(["p0", "p1"], problems, bench, cfg, None, judge)
        judge.close()


def test_its_settings_are_in_the_problems_phase_only_when_it_is_on():
    from curation.config import CurateConfig

    cfg = CurateConfig()
    off = cfg.phase_fingerprints()["problems"]
    assert set(off) == {"dedup", "decontaminate"} and "judge_k" not in off["decontaminate"]  # older folders stay valid
    cfg.decontaminate.judge_k = 9
    assert cfg.phase_fingerprints()["problems"] == off  # it decides nothing while off
    cfg.decontaminate.judge, cfg.judge.model = True, "judge-a"
    on = cfg.phase_fingerprints()["problems"]
    assert on["decontaminate"]["judge_k"] == 9 and on["judge"]["model"] == "judge-a"
    cfg.judge.model = "judge-b"
    assert cfg.phase_fingerprints()["problems"] != on  # another judge: the stage is redone (its replies kept)


def test_decontam_judge_needs_a_judge_and_embeddings_need_an_endpoint(tmp_path):
    src = write_jsonl(tmp_path / "s.jsonl", [{"problem": "p q r", "answer": "1", "responses": ["<think>a</think> 1"]}])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "curation.cli", "math", "--source", str(src), "--out",
                        str(tmp_path / "o"), "--no-benchmark", "gpqa_diamond", "--decontam-judge",
                        "--decontam-retrieval", "embeddings"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "curate: error: decontaminate.judge: --decontam-judge needs an LLM judge (--judge openai --judge-model NAME "
        "--judge-base-url URL)",
        "curate: error: decontaminate.retrieval: embeddings needs --decontam-embed-model and "
        "--decontam-embed-base-url"]
