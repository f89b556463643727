"""Code verification: extract the program, run it in a sandbox, judge it against tests.

``judge(code, tests)`` returns a ``Verdict`` whose reason is AC, WA, TLE, MLE, OLE, RE, CE or SE
(sandbox error: retried once, then ``passed=None``); ``judge_many`` runs many in parallel;
``extract_code`` finds the last fenced block after ``</think>``. See ``sandbox.py`` for what
the isolation protects against and what it does not.
"""

from verifiers.code.extract import extract_code, extract_code_block
from verifiers.code.programs import judge, judge_many, keep_sandboxes_warm, program_of
from verifiers.code.sandbox import Limits, isolation
from verifiers.code.test_formats import parse_tests

__all__ = ["judge", "judge_many", "extract_code", "extract_code_block", "Limits", "isolation",
           "parse_tests", "keep_sandboxes_warm", "program_of"]
