"""Teacher backends: problems in, one Sample row per teacher response out.

``TEACHERS`` is the registry behind ``--teacher``; live backends (OpenAI-compatible servers,
vLLM, transformers) plug in here with the same call.
"""

from curation.teachers.replay import SAMPLE_SCHEMA, replay_generate

TEACHERS = {"replay": replay_generate}

__all__ = ["TEACHERS", "SAMPLE_SCHEMA", "replay_generate"]
