"""Answer checking shared by curation, evaluation and the RL rewards.

``Verdict`` is the value every verifier returns; ``split_reasoning`` is the one definition of
where a response's reasoning ends (every tag style), shared with curation's format filters;
``VERIFIERS`` is the one table of batch verifiers (``verifiers.registry``), which curation's
domains and the rewards (``verifiers.rewards``) both read. ``verifiers.math`` checks math answers,
``verifiers.code`` judges programs in a sandbox, ``verifiers.science`` checks multiple-choice
letters (and numeric answers through the math verifier).
"""

from verifiers.reasoning import Split, as_think, split_reasoning
from verifiers.registry import VERIFIERS, Verifier, VerifyOptions, get_verifier, register_verifier
from verifiers.verdict import Verdict

__all__ = ["Verdict", "split_reasoning", "as_think", "Split", "VERIFIERS", "Verifier", "VerifyOptions",
           "get_verifier", "register_verifier"]
