"""Rephrase decontamination (``--decontam-judge``): retrieval, then the LLM judge for each candidate.

An LLM-rephrased or translated benchmark item shares almost no word 8-grams with its original,
so the n-gram check misses it (0 of 1,315 English rephrasings; BENCHMARKS.md). For each problem
the n-gram check kept, the ``--decontam-k`` closest benchmark items are retrieved (``RETRIEVERS``:
BM25 over words and character 4-grams, run by the executor; or an embeddings endpoint; or both),
and the run's LLM judge (``--judge openai ...``, ``curation.stages.llm_judge``) is shown each
pair verbatim and asked whether they are the same problem; its reply must end with the line
``VERDICT: SAME`` or ``VERDICT: DIFFERENT``. Retrieval scores alone do not separate a rephrasing
from a distinct problem of the same template (BENCHMARKS.md), so only the judge decides.

- one ``SAME`` flags the problem: ``contaminated_rephrase``, its detail the benchmark item and the
  judge's reply, both verbatim;
- a candidate the judge did not decide (its request failed, or the reply is off-format) rejects the
  problem as ``decontam_unjudged`` unless another candidate is ``SAME``: a problem is kept only when
  every candidate was judged different. When every request of a run fails the run stops instead.

Replies go to the response store as they arrive, keyed by the judge's setting, the prompt and the
seed, as the answer judge's are: a re-run, a changed recipe or ``--restart`` asks for nothing it has.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from curation.config import CurateConfig
from curation.dedup.retrieval import Candidates, LexicalIndex, dense_top_k
from curation.settings import ConfigError
from curation.stages.llm_judge import LLMJudge, last_line_verdict
from curation.teachers import Completion, GenRequest
from curation.teachers.embeddings import EmbeddingClient, EmbeddingError

PROMPT = """You are checking a training set for copies of benchmark problems. Decide whether the two
problems below are the same problem: the same task, with the same answer. They are the same even if
the wording, the names, the language (or, for code, the programming language) or the way numbers are
written was changed, or a coding task's examples use other values. Two problems built on one template
are different when their numbers or conditions make the answer different.

Problem A (training set):
{problem}

Problem B (benchmark item):
{item}

Reply with a short reason, then a last line that is exactly one of:
VERDICT: SAME
VERDICT: DIFFERENT"""
_VERDICT = re.compile(r"^\s*VERDICT:\s*(SAME|DIFFERENT)\s*$")
_REPORT_CAP = 200
CHUNK = 2048  # problems whose prompts are built and asked at once
Mark = tuple[str, str] | None  # (reason, detail) of a rejected problem


def parse_reply(text: str) -> bool | None:
    """True (same) / False (different) from the reply's last non-empty line; None when off-format."""
    return last_line_verdict(text, _VERDICT, "SAME")


# -- retrieval: per problem, [(item, score), ...] best first -----------------------------------------

def bm25_candidates(problems: list[str], items: list[str], cfg: CurateConfig, executor) -> list[Candidates]:
    index = LexicalIndex(items)
    k = cfg.decontaminate.judge_k
    return executor.retrieve(problems, index, k) if executor is not None else index.candidates(problems, k)


def embedding_candidates(problems: list[str], items: list[str], cfg: CurateConfig, executor) -> list[Candidates]:
    dc = cfg.decontaminate
    client = EmbeddingClient(dc.embed_model, dc.embed_base_urls)
    try:
        return dense_top_k(client.embed(problems), client.embed(items), dc.judge_k)
    except EmbeddingError as exc:
        raise ConfigError([f"decontaminate.embed_base_urls: cannot embed with {dc.embed_model!r}: {exc}"]) from None


def both_candidates(problems: list[str], items: list[str], cfg: CurateConfig, executor) -> list[Candidates]:
    """The union, BM25's first, each item once (up to twice ``judge_k``)."""
    out = []
    for lexical, dense in zip(bm25_candidates(problems, items, cfg, executor),
                              embedding_candidates(problems, items, cfg, executor), strict=True):
        seen = {j for j, _ in lexical}
        out.append(lexical + [(j, s) for j, s in dense if j not in seen])
    return out


RETRIEVERS: dict[str, Callable[..., list[Candidates]]] = {
    "bm25": bm25_candidates, "embeddings": embedding_candidates, "both": both_candidates}


# -- the judge over the candidates ----------------------------------------------------------------

def rephrase_matches(pids: list[str], problems: list[str], benchmarks: dict[str, list[str]], cfg: CurateConfig,
                     executor, judge: LLMJudge, progress=lambda done, total: None) -> tuple[list[Mark], dict]:
    """Per problem ``(reason, detail)`` or None (kept), and the report's facts: candidates, judged and
    flagged, over all and per benchmark. The judge is asked ``CHUNK`` problems at a time, so the
    prompts held at once stay bounded; ``progress(done, total)`` after each chunk."""
    dc = cfg.decontaminate
    names = sorted(benchmarks)
    items = [(name, j, text) for name in names for j, text in enumerate(benchmarks[name])]
    per = {name: Counter(candidates=0, judged=0, same=0, flagged=0) for name in names}
    cands = RETRIEVERS[dc.retrieval](problems, [t for _, _, t in items], cfg, executor) if items and problems \
        else [[] for _ in problems]
    asked_before, sent, failed = judge.asked, 0, 0
    out: list[Mark] = []
    for start in range(0, len(problems), CHUNK):
        chunk = range(start, min(start + CHUNK, len(problems)))
        requests = [GenRequest(f"decontam:{pids[i]}:{items[j][0]}#{items[j][1]}", 0,
                               PROMPT.format(problem=problems[i], item=items[j][2]), judge.cfg.seed or 0)
                    for i in chunk for j, _ in cands[i]]
        replies = iter(judge.ask(requests) if requests else [])
        sent += len(requests)
        for i in chunk:
            judged = [(items[j], rank, score, next(replies)) for rank, (j, score) in enumerate(cands[i], 1)]
            failed += sum(reply is None for *_, reply in judged)
            out.append(_decide(judged, per))
        progress(len(out), len(problems))
    asked = judge.asked - asked_before
    if sent and failed == sent and asked:
        raise ConfigError([f"decontaminate.judge: every one of the {sent} requests to the judge {judge.cfg.model!r} "
                           "failed; check --judge-base-url and --judge-model"])
    total = sum(per.values(), Counter())
    flagged = [i for i, m in enumerate(out) if m is not None and m[0] == "contaminated_rephrase"]
    info = {"retrieval": dc.retrieval, "k": dc.judge_k, "judge": judge.cfg.model, "problems": len(problems),
            "candidates": total["candidates"], "judged": total["judged"], "same": total["same"],
            "flagged": len(flagged), "unjudged": sum(m is not None and m[0] == "decontam_unjudged" for m in out),
            "candidates_per_problem": round(total["candidates"] / len(problems), 3) if problems else 0.0,
            "asked_this_run": asked, "per_benchmark": {n: dict(c) for n, c in per.items()},
            "matches": [{"problem_id": pids[i], "match": out[i][1].split(" ", 1)[0]} for i in flagged[:_REPORT_CAP]]}
    return out, info


def _decide(judged: list[tuple[tuple[str, int, str], int, float, Completion | None]],
            per: dict[str, Counter]) -> Mark:
    """One problem's mark from its candidates' replies (best first); counts into ``per``."""
    same, undecided = None, []
    for (name, item, text), rank, score, reply in judged:
        per[name]["candidates"] += 1
        decision = parse_reply(reply.text) if reply is not None else None
        if decision is None:
            undecided.append(f"{name}#{item}: " + ("the judge's request failed" if reply is None else
                                                  f"off-format reply {reply.text.strip()[-160:]!r}"))
            continue
        per[name]["judged"] += 1
        per[name]["same"] += decision
        if decision and same is None:
            same = (name, item, text, rank, score, reply.text.strip())
    if same is not None:
        name, item, text, rank, score, reply_text = same
        per[name]["flagged"] += 1
        return ("contaminated_rephrase", f"{name}#{item} (retrieval rank {rank}, score {score:g}; the judge said "
                                         f"SAME)\nbenchmark item:\n{text}\njudge's reply:\n{reply_text}")
    return ("decontam_unjudged", "; ".join(undecided)) if undecided else None
