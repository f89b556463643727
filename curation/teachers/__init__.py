"""Teacher backends: problems in, one Sample row per teacher response out.

- ``base``: the seam every backend declares (``Teacher``; ``LiveTeacher`` for those that answer
  requests, ``BlockingServe`` for those that work in a thread of their own);
- ``registry``: ``TEACHERS`` (behind ``--teacher``), ``make_teacher``, ``LazyTeacher``;
- the backends: ``replay`` (the traces stored in the source), ``openai_client`` (any
  OpenAI-compatible endpoint), ``vllm_offline``, ``hf``;
- what they are asked and answer (``requests``: ``GenRequest``, ``Completion``, seeds, prompts),
  the queue a live teacher is fed from (``queue``), the store of paid answers keyed by what
  determines them (``response_store``), the append-only log the LLM judge keeps and older runs
  kept (``response_log``) and the Sample record they produce (``samples``);
- ``embeddings``: a client of OpenAI-compatible ``/v1/embeddings`` endpoints (``--decontam-retrieval``).

The rejection-sampling rounds (``curation.run.streaming``), the LLM judge and ``evaluate`` all
drive a live teacher through ``serve``/``generate``.
"""

from curation.teachers.base import BlockingServe, LiveTeacher, Teacher
from curation.teachers.hf import HFTeacher
from curation.teachers.openai_client import OpenAITeacher
from curation.teachers.queue import RequestQueue
from curation.teachers.registry import TEACHERS, LazyTeacher, live_teachers, make_teacher
from curation.teachers.replay import ReplayTeacher
from curation.teachers.requests import Completion, GenRequest, build_prompt, sample_seed
from curation.teachers.response_log import ResponseLog
from curation.teachers.response_store import ResponseStore
from curation.teachers.samples import GENERATION_STRUCT, SAMPLE_SCHEMA, TEACHER_STRUCT, sample_row
from curation.teachers.vllm_offline import VLLMTeacher

__all__ = ["Teacher", "LiveTeacher", "BlockingServe", "TEACHERS", "live_teachers", "make_teacher", "LazyTeacher",
           "SAMPLE_SCHEMA", "TEACHER_STRUCT", "GENERATION_STRUCT", "sample_row", "RequestQueue", "GenRequest",
           "Completion", "build_prompt", "sample_seed", "ResponseLog", "ResponseStore", "OpenAITeacher", "VLLMTeacher",
           "HFTeacher", "ReplayTeacher"]
