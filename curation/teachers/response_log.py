"""The append-only response log: every ``Completion`` a live teacher gave, one JSON line each.

Every answer (or final failure) is appended the moment it arrives, so a killed run resumes by
reading the log and requesting only the ``(problem_id, sample_index)`` pairs that have no answer.
The rejection-sampling rounds (``curation.run.streaming``), the LLM judge and ``evaluate`` keep
their answers in one.
"""

from __future__ import annotations

import json
from pathlib import Path

from curation.teachers.requests import Completion


class ResponseLog:
    """Append-only JSONL of ``Completion``s; the answered ones are never requested again."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.answered: dict[tuple[str, int], Completion] = {}
        self.failed: dict[tuple[str, int], Completion] = {}
        if self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        c = Completion(**json.loads(line))
                    except (json.JSONDecodeError, TypeError):
                        continue  # the half-written last line of a killed run
                    self._store(c)
        self._fh = None

    def _store(self, c: Completion) -> None:
        key = (c.problem_id, c.sample_index)
        if c.ok:
            self.answered[key] = c
            self.failed.pop(key, None)
        elif key not in self.answered:
            self.failed[key] = c

    def append(self, c: Completion) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (closed in close())
        self._fh.write(c.to_json() + "\n")  # line-buffered: in the OS once written, so it survives a kill
        self._store(c)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
