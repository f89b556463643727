"""Answer checking shared by curation and evaluation.

``Verdict`` is the value every verifier returns; ``split_reasoning`` is the one definition of
where a response's reasoning ends (every tag style), shared with curation's format filters;
``verifiers.math`` checks math answers,
``verifiers.code`` judges programs in a sandbox, ``verifiers.science`` checks multiple-choice
letters (and numeric answers through the math verifier).
"""

from verifiers.reasoning import Split, as_think, split_reasoning
from verifiers.verdict import Verdict

__all__ = ["Verdict", "split_reasoning", "as_think", "Split"]
