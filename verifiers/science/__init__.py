"""Science answers: multiple-choice letters in the forms models use, or numbers via the math verifier.

``verify(response, gold, *, choices=None)``: when ``gold`` is a choice (a letter, or an index
into ``choices``), the letters the response's final part (``verifiers.math.split_final``) names
as its answer are read by ``choice_letters`` (``verifiers.science.choices``: boxes, answer
statements, lone letter lines, the text of exactly one option, a final "(C)") and compared with
it. A final part that names two or more different options as the answer (two boxes that
disagree, "B or D", "B (or possibly D)", "B, although D is also possible", "Alternatively, the
answer is D") is ``ambiguous_answer``, never correct. Any other gold (a number, an expression)
goes through ``verifiers.math``.
"""

from verifiers.science.answers import is_free_form, verify, verify_many
from verifiers.science.choices import LETTERS, choice_letters

__all__ = ["LETTERS", "choice_letters", "is_free_form", "verify", "verify_many"]
