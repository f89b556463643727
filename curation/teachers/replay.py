"""The ``replay`` teacher: the source already holds teacher traces; each becomes a Sample."""

from __future__ import annotations

from curation.teachers.base import Teacher
from curation.teachers.samples import sample_row, teacher_info


class ReplayTeacher(Teacher):
    """``--teacher replay`` (the default): the responses stored in the source rows are the answers;
    nothing is requested. The generate stage over them is ``curation.stages.generate``."""

    def describe(self) -> dict:
        """The sampling settings recorded with the traces (the only teacher facts a replay knows)."""
        return teacher_info(self.cfg, self.cfg.seed)

    def samples_of(self, problem: dict) -> list[dict]:
        """One sample row per response stored with the problem row, in their order (none: empty)."""
        responses = problem.get("responses") or []
        if not responses:
            return []
        finish = problem.get("finish_reasons") or [None] * len(responses)
        teacher = teacher_info(self.cfg, self.cfg.seed)
        return [sample_row(problem, i, text, fin, teacher)
                for i, (text, fin) in enumerate(zip(responses, finish, strict=True))]
