"""Running a curation: the driver (``pipeline``: four resumable phases over the work folder,
``workdir``), the work of one part (``part_work``), the streaming scheduler for live teachers
(``streaming``) and the executors that decide where the pure work runs (``executors``)."""

from curation.run.part_work import PartResult, run_part
from curation.run.pipeline import TeacherFailed, run_curation

__all__ = ["PartResult", "run_part", "TeacherFailed", "run_curation"]
