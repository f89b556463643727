"""Answer checking shared by curation and evaluation.

``Verdict`` is the value every verifier returns; ``verifiers.math`` checks math answers,
``verifiers.code`` judges programs in a sandbox, ``verifiers.science`` checks multiple-choice
letters (and numeric answers through the math verifier).
"""

from verifiers.verdict import Verdict

__all__ = ["Verdict"]
