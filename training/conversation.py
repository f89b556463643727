"""Conversations -> token ids and loss masks.

Each conversation is rendered with the student's chat template, except that an assistant turn
that is trained never goes through the template: its content is placed verbatim, followed by EOS.
Some R1-distill templates strip the reasoning from assistant turns, which would train the student
on answers without their reasoning. The template's text around the trained turns (system and user
turns, role headers, the generation prompt) is found by rendering the conversation with each
trained assistant turn replaced by a unique placeholder and cutting the text at the placeholders.

``train_on="all"`` (the default, as TRL's assistant-only loss) trains every assistant turn;
``"last"`` trains only the final one, earlier assistant turns being rendered by the template as
context. For a single-turn conversation both are the same. Labels cover exactly the trained
assistant tokens and their EOS.

A sample longer than the cutoff is dropped and counted (``overlong="drop"``), or cut at the
cutoff (``"truncate"``, as LLaMA-Factory does; the cut sample has no EOS) and counted as
truncated; a cut sample left with no trained token is dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

TRAIN_ON = ("all", "last")
OVERLONG = ("drop", "truncate")
_PLACEHOLDER = "\ue000branch-merge-assistant-turn-{}\ue001"


@dataclass
class TokenizedSet:
    """All samples in two flat arrays (ids, label mask) with offsets: compact for long traces."""

    ids: np.ndarray
    mask: np.ndarray
    offsets: np.ndarray
    dropped: Counter = field(default_factory=Counter)
    truncated: int = 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.ids[a:b], self.mask[a:b]


class BadConversation(ValueError):
    pass


def _check(messages) -> None:
    if not isinstance(messages, list) or not messages:
        raise BadConversation("messages is empty or not a list")
    if not all(isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") for m in messages):
        raise BadConversation("every message needs a role and text content")
    if messages[-1]["role"] != "assistant":
        raise BadConversation("the last message is not the assistant's")


def _render(tokenizer, messages: list[dict]) -> str:
    """The prompt text for ``messages`` with the generation prompt added."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "".join(f"{m['content']}\n" for m in messages)


def _pieces(tokenizer, messages: list[dict], train_on: str) -> list[tuple[str, bool]]:
    """``[(text, trained), ...]``: template text and verbatim assistant contents, in order."""
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    trained = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    if train_on == "last":
        trained = trained[-1:]
    history = trained[:-1]  # trained turns before the last, shown as placeholders
    shown = [dict(m, content=_PLACEHOLDER.format(history.index(i))) if i in history else m
             for i, m in enumerate(msgs[:-1])]
    text = _render(tokenizer, shown)
    eos_text = tokenizer.eos_token or ""
    pieces: list[tuple[str, bool]] = []
    for k, i in enumerate(trained):
        if k < len(trained) - 1:
            marker = _PLACEHOLDER.format(k)
            if text.count(marker) != 1:
                raise BadConversation("the chat template does not show every assistant turn once")
            before, text = text.split(marker)
            # the template's own end of turn right after the content: we write EOS there ourselves
            if eos_text and text.startswith(eos_text):
                text = text[len(eos_text):]
        else:
            before = text
        pieces += [(before, False), (msgs[i]["content"], True)]
    return pieces


def tokenize_conversation(tokenizer, messages: list[dict], train_on: str = "all") -> tuple[list[int], list[bool]]:
    """``(input_ids, label_mask)`` for one conversation whose last turn is the assistant's."""
    _check(messages)
    eos = tokenizer.eos_token_id
    if eos is None:
        raise BadConversation("the tokenizer has no EOS token")
    ids: list[int] = []
    mask: list[bool] = []
    prompt = ""
    for text, trained in _pieces(tokenizer, messages, train_on):
        if not trained:
            prompt = text
            continue
        # Templates that open the reasoning block in the generation prompt (R1-distill's "<think>\n"):
        # the target's own opening tag would be doubled, so it is not repeated.
        for opener in ("<think>\n", "<think>"):
            if prompt.endswith(opener) and text.startswith(opener):
                text = text[len(opener):]
                break
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        target_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += [*prompt_ids, *target_ids, eos]
        mask += [False] * len(prompt_ids) + [True] * (len(target_ids) + 1)
    return ids, mask


def tokenize_rows(rows, tokenizer, cutoff: int, *, train_on: str = "all", overlong: str = "drop") -> TokenizedSet:
    """Tokenize every row's ``messages``; malformed rows are dropped and counted, too long ones
    dropped or truncated (``overlong``) and counted."""
    ids_parts, mask_parts, offsets = [], [], [0]
    dropped: Counter = Counter()
    truncated = 0
    for row in rows:
        try:
            ids, mask = tokenize_conversation(tokenizer, row.get("messages"), train_on)
        except BadConversation:
            dropped["malformed_messages"] += 1
            continue
        if len(ids) > cutoff:
            if overlong == "drop":
                dropped["longer_than_cutoff"] += 1
                continue
            ids, mask = ids[:cutoff], mask[:cutoff]
            if not any(mask[1:]):  # nothing left to learn: the prompt alone fills the cutoff
                dropped["prompt_longer_than_cutoff"] += 1
                continue
            truncated += 1
        ids_parts.append(np.asarray(ids, dtype=np.int32))
        mask_parts.append(np.asarray(mask, dtype=bool))
        offsets.append(offsets[-1] + len(ids))
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.int32)
    mask = np.concatenate(mask_parts) if mask_parts else np.zeros(0, bool)
    return TokenizedSet(ids, mask, np.asarray(offsets, dtype=np.int64), dropped, truncated)
