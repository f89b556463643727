"""Teacher backends: problems in, one Sample row per teacher response out.

``TEACHERS`` is the registry behind ``--teacher``. ``replay`` turns the responses stored in the
source into samples; the live backends (``openai``, ``vllm``, ``hf``) answer ``GenRequest``s with
``Completion``s through one call, ``generate(requests, on_result)``, which the rejection-sampling
rounds (``curation.rounds``) and ``evaluate`` both use.
"""

from curation.teachers.hf import HFTeacher
from curation.teachers.openai_client import OpenAITeacher
from curation.teachers.queue import RequestQueue, run_batch
from curation.teachers.replay import ReplayTeacher, replay_generate
from curation.teachers.requests import Completion, GenRequest, build_prompt, sample_seed
from curation.teachers.samples import GENERATION_STRUCT, SAMPLE_SCHEMA, TEACHER_STRUCT, sample_row
from curation.teachers.vllm_offline import VLLMTeacher

TEACHERS = {"replay": ReplayTeacher, "openai": OpenAITeacher, "vllm": VLLMTeacher, "hf": HFTeacher}


def make_teacher(cfg):
    """The live backend named by ``cfg.backend`` (a ``TeacherConfig``), checked before use: a
    backend that can tell it is unreachable (``preflight``) raises ``ConfigError`` here."""
    from curation.settings import ConfigError

    cls = TEACHERS[cfg.backend]
    if not getattr(cls, "live", False):
        raise ValueError(f"teacher {cfg.backend!r} does not generate; it replays stored responses")
    teacher = cls(cfg)
    problems = teacher.preflight() if hasattr(teacher, "preflight") else []
    if problems:
        raise ConfigError(problems)
    return teacher


class LazyTeacher:
    """Builds the backend on the first request, so a resumed run whose answers are all on disk
    loads no model and contacts no server."""

    def __init__(self, cfg):
        self.cfg = cfg
        self._teacher = None

    @property
    def teacher(self):
        if self._teacher is None:
            self._teacher = make_teacher(self.cfg)
        return self._teacher

    def generate(self, requests, on_result) -> None:
        self.teacher.generate(requests, on_result)

    async def serve(self, queue, on_result) -> None:
        await self.teacher.serve(queue, on_result)


__all__ = ["TEACHERS", "SAMPLE_SCHEMA", "TEACHER_STRUCT", "GENERATION_STRUCT", "sample_row", "replay_generate",
           "make_teacher", "LazyTeacher", "RequestQueue", "run_batch", "GenRequest", "Completion", "build_prompt",
           "sample_seed",
           "OpenAITeacher", "VLLMTeacher", "HFTeacher", "ReplayTeacher"]
