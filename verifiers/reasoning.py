"""Where a response's reasoning ends: the one definition the format filters and verifiers share.

Tag styles recognised:

- R1's ``<think>...</think>`` then the final part (R1 often leaves out the opening ``<think>``:
  text before a lone ``</think>`` is the reasoning);
- Sky-T1 / Bespoke / OpenThoughts' ``<|begin_of_thought|>...<|end_of_thought|>`` then
  ``<|begin_of_solution|>...<|end_of_solution|>`` (the solution block is the final part);
- no markers at all: plain chain-of-thought, the whole text is the final part.

A block that was opened and never closed (the trace hit the token limit mid-thought, or mid
solution) is a cut-off trace: ``complete`` is False, and no verifier may pass it, whatever
number it mentions last. (Sources that keep the reasoning and the answer in separate fields are
joined into the ``<think>`` form when they are loaded.)
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
THOUGHT_OPEN, THOUGHT_CLOSE = "<|begin_of_thought|>", "<|end_of_thought|>"
SOLUTION_OPEN, SOLUTION_CLOSE = "<|begin_of_solution|>", "<|end_of_solution|>"
_MARKERS = (THINK_OPEN, THINK_CLOSE, THOUGHT_OPEN, THOUGHT_CLOSE, SOLUTION_OPEN, SOLUTION_CLOSE)


@dataclass(frozen=True)
class Split:
    reasoning: str | None  # None: no reasoning block
    final: str  # the text the answer is read from
    style: str  # "think", "thought" or "none"
    complete: bool  # False: a block was opened and never closed (a cut-off trace)
    unclosed: str = ""  # which block was left open, for the reason's detail


def split_reasoning(text: str) -> Split:
    """Reasoning and final part of ``text`` (see the module docstring)."""
    if not any(m in text for m in _MARKERS):
        return Split(None, text, "none", True)
    think_close, thought_close = text.rfind(THINK_CLOSE), text.rfind(THOUGHT_CLOSE)
    if THOUGHT_OPEN in text or thought_close >= 0 or SOLUTION_OPEN in text:
        return _thought_style(text, thought_close)
    if think_close < 0:  # <think> opened, never closed
        return Split(text.split(THINK_OPEN, 1)[1], "", "think", False, THINK_OPEN)
    reasoning = text[:think_close]
    opener = reasoning.find(THINK_OPEN)
    if opener >= 0:
        reasoning = reasoning[opener + len(THINK_OPEN):]
    final = text[think_close + len(THINK_CLOSE):]
    if THINK_OPEN in final:  # a second block opened after the last close: cut off in it
        return Split(reasoning, final, "think", False, THINK_OPEN)
    return Split(reasoning, final, "think", True)


def _thought_style(text: str, thought_close: int) -> Split:
    opened = text.find(THOUGHT_OPEN)
    if thought_close < 0 or (opened > thought_close):
        body = text[opened + len(THOUGHT_OPEN):] if opened >= 0 else text
        return Split(body, "", "thought", False, THOUGHT_OPEN)
    start = opened + len(THOUGHT_OPEN) if 0 <= opened < thought_close else 0
    reasoning = text[start:thought_close]
    rest = text[thought_close + len(THOUGHT_CLOSE):]
    sol_open, sol_close = rest.find(SOLUTION_OPEN), rest.rfind(SOLUTION_CLOSE)
    if sol_open >= 0 and sol_close < sol_open:
        return Split(reasoning, rest[sol_open + len(SOLUTION_OPEN):], "thought", False, SOLUTION_OPEN)
    if sol_open >= 0:
        final = rest[sol_open + len(SOLUTION_OPEN):sol_close]
    else:
        final = rest.replace(SOLUTION_CLOSE, "")
    return Split(reasoning, final, "thought", True)


def as_think(text: str) -> str:
    """The response in R1's form, ``<think>\\nreasoning\\n</think>\\n\\nfinal``, for a complete
    response with a reasoning block; other text unchanged. A ``<think>`` response keeps its own
    text (only a missing opener is put back)."""
    split = split_reasoning(text)
    if not split.complete or split.reasoning is None:
        return text
    if split.style == "think":
        stripped = text.lstrip()
        return text if stripped.startswith(THINK_OPEN) else THINK_OPEN + "\n" + stripped
    return f"{THINK_OPEN}\n{split.reasoning.strip()}\n{THINK_CLOSE}\n\n{split.final.strip()}"
