"""Teacher backends: problems in, one Sample row per teacher response out.

``TEACHERS`` is the registry behind ``--teacher``. ``replay`` turns the responses stored in the
source into samples; the live backends (``openai``, ``vllm``, ``hf``) answer ``GenRequest``s with
``Completion``s through one call, ``generate(requests, on_result)``, which the rejection-sampling
rounds (``curation.rounds``) and ``evaluate`` both use.
"""

from curation.teachers.hf import HFTeacher
from curation.teachers.openai_client import OpenAITeacher
from curation.teachers.replay import SAMPLE_SCHEMA, TEACHER_STRUCT, ReplayTeacher, replay_generate
from curation.teachers.requests import DEFAULT_PROMPTS, Completion, GenRequest, build_prompt, sample_seed
from curation.teachers.vllm_offline import VLLMTeacher

TEACHERS = {"replay": ReplayTeacher, "openai": OpenAITeacher, "vllm": VLLMTeacher, "hf": HFTeacher}


def make_teacher(cfg):
    """The live backend named by ``cfg.backend`` (a ``TeacherConfig``)."""
    cls = TEACHERS[cfg.backend]
    if not getattr(cls, "live", False):
        raise ValueError(f"teacher {cfg.backend!r} does not generate; it replays stored responses")
    return cls(cfg)


__all__ = ["TEACHERS", "SAMPLE_SCHEMA", "TEACHER_STRUCT", "replay_generate", "make_teacher", "GenRequest",
           "Completion", "build_prompt", "sample_seed", "DEFAULT_PROMPTS", "OpenAITeacher", "VLLMTeacher",
           "HFTeacher", "ReplayTeacher"]
