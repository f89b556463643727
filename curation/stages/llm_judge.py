"""An LLM judge for what the parsers cannot decide (``--judge openai --judge-model NAME``).

OpenR1-Math-220k needed one for about 12% of its samples. Only samples whose verdict is
``passed=None`` because the answer or the gold could not be parsed (``unparseable_gold``,
``free_form_gold``) go to it; every other verdict stays the verifier's. The judge is any live
teacher backend, asked with a fixed prompt that compares the response's final answer with the
gold and must end with one strict line, ``VERDICT: EQUIVALENT`` or ``VERDICT: DIFFERENT``. A
reply in any other form leaves the verdict undecided (``judge_unparseable``); a request that
failed leaves the verifier's verdict as it was. Decided verdicts say ``via=judge`` in their
detail (the card counts them). Every reply is committed to the response store as it arrives,
keyed like a teacher's answer (the judge's model and sampling settings, the prompt, the seed), so
a re-run, or a run of a changed recipe, asks only for what is missing, and a judge of another
model is never served this one's replies. The judge lives where the store is, with the run's
driver, under either executor; batches checked at once (Ray's workers) put their questions to it
one batch at a time.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from curation.config import TeacherConfig
from curation.teachers import Completion, GenRequest, LazyTeacher
from curation.teachers.response_store import ResponseStore
from verifiers import Verdict, split_reasoning

JUDGEABLE = {"unparseable_gold", "free_form_gold"}
PROMPT = """You are grading a student's final answer against the reference answer of a problem.
Decide only whether the two answers are mathematically or factually the same; ignore the
working, formatting and units written differently.

Problem:
{problem}

Reference answer:
{gold}

Student's final answer (the end of the response):
{answer}

Reply with a short reason, then a last line that is exactly one of:
VERDICT: EQUIVALENT
VERDICT: DIFFERENT"""
_VERDICT = re.compile(r"^\s*VERDICT:\s*(EQUIVALENT|DIFFERENT)\s*$")
_MAX_ANSWER = 2000


def last_line_verdict(text: str, pattern: re.Pattern, yes: str) -> bool | None:
    """Whether the reply's last non-empty line (after any reasoning) is ``pattern`` with group 1 ``yes``;
    None when that line is off-format. Every judge prompt here ends with such a line."""
    split = split_reasoning(text)
    lines = [line for line in (split.final if split.complete else text).splitlines() if line.strip()]
    m = pattern.match(lines[-1]) if lines else None
    return None if m is None else m.group(1) == yes


def parse_reply(text: str) -> bool | None:
    """True / False from the reply's last non-empty line, None when it is off-format."""
    return last_line_verdict(text, _VERDICT, "EQUIVALENT")


def gold_text(reference: str) -> str:
    """The gold as the judge reads it: a science reference's answer (with its options), else the text."""
    import json

    try:
        ref = json.loads(reference)
    except (json.JSONDecodeError, TypeError):
        return reference
    if isinstance(ref, dict) and "answer" in ref:
        options = "; ".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(ref.get("choices") or []))
        return str(ref["answer"]) + (f" (options: {options})" if options else "")
    return reference


class LLMJudge:
    def __init__(self, cfg: TeacherConfig, store_root: Path):
        self.cfg = cfg
        self.teacher = LazyTeacher(cfg)
        self.store = ResponseStore(store_root, cfg.answer_identity())
        self.asked = self.decided = 0
        self._lock = threading.Lock()  # one batch at a time: the backend is not shared safely

    def close(self) -> None:
        self.store.close()

    def summary(self) -> dict:
        """For the report: the judge and what it did over the whole run (replies from the store), both
        uses counted (answers, and benchmark pairs with ``--decontam-judge``)."""
        return {"backend": self.cfg.backend, "model": self.cfg.model, "replies": self.store.count(),
                "asked_this_run": self.asked, "decided_this_run": self.decided}

    def ask(self, requests: list[GenRequest]) -> list[Completion | None]:
        """The judge's reply to each request (None: the request failed): from the response store, else
        asked (and stored as it arrives). One batch at a time; ``asked`` counts the requests sent."""
        with self._lock:
            replies = [self.store.get(q) for q in requests]
            missing = {q.key: q for q, reply in zip(requests, replies, strict=True) if reply is None}
            if not missing:
                return replies
            self.asked += len(missing)
            fresh: dict = {}

            def arrived(c: Completion) -> None:
                self.store.put(missing[(c.problem_id, c.sample_index)], c)
                fresh[(c.problem_id, c.sample_index)] = c if c.ok else None

            self.teacher.generate(list(missing.values()), arrived)
            return [reply or fresh.get(q.key) for q, reply in zip(requests, replies, strict=True)]

    def rejudge(self, sample_ids: list[str], problems: list[str], responses: list[str], references: list[str],
                verdicts: list[Verdict]) -> list[Verdict]:
        """The verdicts with every judgeable one replaced by the judge's decision."""
        golds = [gold_text(r) for r in references]
        todo = [i for i, v in enumerate(verdicts) if v.passed is None and v.reason in JUDGEABLE]
        if not todo:
            return verdicts
        requests = {}
        for i in todo:
            final = split_reasoning(responses[i]).final or responses[i]
            prompt = PROMPT.format(problem=problems[i], gold=golds[i], answer=final.strip()[-_MAX_ANSWER:])
            requests[i] = GenRequest(f"judge:{sample_ids[i]}", 0, prompt, self.cfg.seed or 0)
        replies = dict(zip(requests, self.ask(list(requests.values())), strict=True))
        out = list(verdicts)
        for i, reply in replies.items():
            if reply is None:
                continue  # the judge failed for it: the verifier's verdict stands
            decision = parse_reply(reply.text)
            if decision is None:
                out[i] = Verdict(None, "judge_unparseable", f"judge reply: {reply.text.strip()[-200:]}")
            else:
                with self._lock:
                    self.decided += 1
                out[i] = Verdict(decision, "correct" if decision else "wrong_answer",
                                 f"{verdicts[i].reason} ({verdicts[i].detail[:80]}); via=judge")
        return out
