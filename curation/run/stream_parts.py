"""A part as the streaming scheduler holds it while its problems are asked (``Part``, ``Problem``),
and how a settled part becomes its stage results (``assemble``): in the barrier schedule's order, so
the rows do not depend on the order in which answers arrived."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import polars as pl

from curation.config import CurateConfig
from curation.run.part_work import PartResult
from curation.stages.contract import StageResult, rejected_frame, split_by_reason, timed
from curation.stages.select import select_stage
from curation.teachers import Completion, build_prompt
from curation.teachers.generation_stats import PartGeneration
from curation.teachers.samples import samples_frame


@dataclass
class Problem:
    row: dict
    pos: int  # order within the part
    prompt: str
    asked: int = 0
    verified: int = 0
    round: int = 0
    outstanding: int = 0
    arrived: list[Completion] = field(default_factory=list)
    answered_any: bool = False
    failures: Counter = field(default_factory=Counter)
    seen: set = field(default_factory=set)  # hashes of its response texts (identical answers)
    blocked: bool = False  # a request of its round waits for an answer this run will not get (deferred)


class Part:
    def __init__(self, k: int, frame: pl.DataFrame, cfg: CurateConfig):
        self.k, self.frame = k, frame
        t = cfg.teacher
        self.problems = {row["row_index"]: Problem(row, pos, build_prompt(cfg.domain, row["problem"],
                                                                           row["reference"], t.prompt))
                         for pos, row in enumerate(frame.iter_rows(named=True))}
        self.unsettled = len(self.problems)
        self.blocked = 0  # problems waiting for a deferred request
        self.frames: dict[tuple[int, str], list[pl.DataFrame]] = defaultdict(list)  # (round, kind) -> frames
        self.answered_in_round: Counter = Counter()
        self.seconds = Counter()  # format / verify seconds attributed to this part
        self.verdicts: dict[int, Counter] = defaultdict(Counter)  # per round: verify.verdict_outcome counts
        self.stats = PartGeneration()


def assemble(part: Part, cfg: CurateConfig) -> PartResult:
    """The part's stage results in the barrier schedule's order: generate over its problems, then
    format and verify of each round (problems in part order, samples by index), then select."""
    order = sorted(part.problems.values(), key=lambda p: p.pos)
    reasons = [None if p.answered_any else "teacher_failed" for p in order]
    details = ["" if p.answered_any else ", ".join(f"{k} x{n}" for k, n in sorted(p.failures.items()))
               for p in order]
    gen = split_by_reason(part.frame, "generate", reasons, details,
                          out=pl.DataFrame({"n": range(part.stats.answered)}))
    gen.seconds = part.stats.teacher_seconds
    stages = [gen]
    pos = {p.row["row_index"]: p.pos for p in order}

    def joined(rnd: int, kind: str, rejected: bool = False) -> pl.DataFrame:
        frames = sorted(part.frames.get((rnd, kind), []), key=lambda f: pos[f["row_index"][0]])
        if frames:
            return pl.concat(frames)
        return rejected_frame() if rejected else samples_frame([])

    rounds = part.stats.rounds
    for rnd in sorted(rounds):
        fmt_kept = joined(rnd, "fmt_kept")
        fmt = StageResult("format", fmt_kept, joined(rnd, "fmt_rejected", True),
                          part.answered_in_round[rnd], seconds=part.seconds["format"] / len(rounds))
        ver = StageResult("verify", joined(rnd, "ver_kept"), joined(rnd, "ver_rejected", True),
                          fmt_kept.height, seconds=part.seconds["verify"] / len(rounds),
                          info={"verdicts": part.verdicts[rnd]})
        stages += [fmt, ver]
    verified = [st.kept for st in stages if st.stage == "verify" and st.kept.height]
    stages.append(timed(select_stage, pl.concat(verified) if verified else pl.DataFrame(), cfg.select.keep))
    return PartResult(stages[-1].kept, stages, part.stats)
