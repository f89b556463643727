"""Math answer verification: ``verify`` and ``verify_many``.

The final answer is read from the text after ``</think>`` (last ``\\boxed{}`` first). It is
compared with the gold by a fast path (normalised strings, exact integers and fractions, all
bounded and done in the calling process), then math-verify, then sympy. Everything past the
fast path runs in worker processes under a hard wall-clock limit enforced by killing the
worker, so a power tower or a 100k-character answer yields a ``timeout`` verdict instead of
a hang. Identical ``(answer, gold)`` pairs in one call are checked once.
"""

from verifiers.math.answers import final_answer, verify, verify_many
from verifiers.math.extract import boxed_answers, last_boxed, split_final

__all__ = ["verify", "verify_many", "split_final", "last_boxed", "boxed_answers", "final_answer"]
