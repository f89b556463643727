"""Answer checking shared by curation and evaluation.

``Verdict`` is the value every verifier returns; ``verifiers.math`` checks math answers.
"""

from verifiers.verdict import Verdict

__all__ = ["Verdict"]
