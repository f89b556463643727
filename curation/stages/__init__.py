"""The stages rows pass through, each a function from a batch and its settings to a ``StageResult``.

- ``contract``: ``StageResult``, ``split_by_reason`` (one reason per row, so no row is lost), the
  one rejected-row schema and the ``Funnel`` of counts;
- ``load``: source rows -> problems (``malformed_*`` rejected);
- ``problem_stages``: exact dedup, decontamination and near-dedup over all problems, before any
  teacher compute (the algorithms are ``curation.dedup``'s); ``decontam_judge``: with
  ``--decontam-judge``, retrieved benchmark items put to the LLM judge (rephrasings, translations);
- ``generate``: the traces stored in the source as samples (a live teacher's generate stage is
  assembled by ``curation.run.streaming``);
- ``format_filters``, ``verify`` (with ``llm_judge`` for what the parsers cannot decide) and
  ``select`` over teacher samples.
"""

from curation.stages.contract import REJECTED_SCHEMA, Funnel, StageResult, split_by_reason, timed
from curation.stages.format_filters import LengthCounter, format_stage
from curation.stages.generate import replay_stage
from curation.stages.llm_judge import LLMJudge
from curation.stages.load import PROBLEM_SCHEMA, load_stage
from curation.stages.problem_stages import PROBLEM_STAGES
from curation.stages.select import select_stage
from curation.stages.verify import format_and_verify, verify_responses, verify_stage

__all__ = ["REJECTED_SCHEMA", "Funnel", "StageResult", "split_by_reason", "timed", "LengthCounter", "format_stage",
           "LLMJudge", "replay_stage", "PROBLEM_SCHEMA", "load_stage", "PROBLEM_STAGES", "select_stage",
           "format_and_verify", "verify_responses", "verify_stage"]
