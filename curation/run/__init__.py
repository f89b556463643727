"""Running a curation: the driver (``pipeline``: four resumable phases over the work folder,
``workdir``), the work of one part (``part_work``), the streaming scheduler for live teachers
(``streaming``, its parts in ``stream_parts``), requests that wait for batch files, a Batch API or a
budget (``batch_rounds``: ``AnswersPending``) and the executors that decide where the pure work runs
(``executors``)."""

from curation.run.batch_rounds import AnswersPending
from curation.run.part_work import PartResult, run_part
from curation.run.pipeline import TeacherFailed, run_curation

__all__ = ["PartResult", "run_part", "TeacherFailed", "AnswersPending", "run_curation"]
