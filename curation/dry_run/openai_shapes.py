"""The OpenAI-compatible shapes the scripted server answers with: error bodies, an assistant
message with its reasoning apart or not, streamed chunks, and a stand-in embedding."""

from __future__ import annotations

import hashlib
import math

ERROR_TYPES = {400: "BadRequestError", 401: "AuthenticationError", 403: "PermissionDeniedError",
               404: "NotFoundError", 409: "ConflictError", 422: "UnprocessableEntityError", 429: "RateLimitError"}
STREAM_PIECES = 4  # chunks per choice's text when streaming
EMBED_DIM = 256


def hashed_embedding(text: str, dim: int = EMBED_DIM) -> list[float]:
    """Lower-cased words (and numbers) hashed into ``dim`` signed buckets, scaled to unit length."""
    import re

    vec = [0.0] * dim
    for word in re.findall(r"[^\W_]+", text.lower()):
        h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        vec[h % dim] += 1.0 if (h >> 32) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [round(v / norm, 6) for v in vec]


def error_body(code: int, message: str) -> dict:
    kind = ERROR_TYPES.get(code, "InternalServerError" if code >= 500 else "APIError")
    return {"error": {"message": message, "type": kind, "code": code}}


def message_parts(text: str, split_reasoning: bool) -> dict:
    """The assistant message's fields: the text, or its reasoning and content apart (vLLM's reasoning parser)."""
    if split_reasoning and "</think>" in text:
        reasoning, _, content = text.partition("</think>")
        return {"content": content.strip(), "reasoning_content": reasoning.replace("<think>", "").strip()}
    return {"content": text}


def pieces(text: str, parts: int = STREAM_PIECES) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i:i + size] for i in range(0, len(text), size)]


def stream_choices(answers: list[tuple[str, str]], chat: bool, split_reasoning: bool):
    """The ``choices`` entries of the streamed chunks, in order: each choice's pieces, then its finish."""
    for i, (text, finish) in enumerate(answers):
        if not chat:
            for piece in pieces(text):
                yield {"index": i, "text": piece, "logprobs": None, "finish_reason": None}
            yield {"index": i, "text": "", "logprobs": None, "finish_reason": finish}
            continue
        yield {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        parts = message_parts(text, split_reasoning)
        for field in ("reasoning_content", "content"):
            for piece in pieces(parts.get(field, "")):
                yield {"index": i, "delta": {field: piece}, "finish_reason": None}
        yield {"index": i, "delta": {}, "finish_reason": finish}


def completion_body(head: dict, answers: list[tuple[str, str]], chat: bool, usage: dict,
                    split_reasoning: bool) -> dict:
    """A whole (non-streamed) ``chat.completion`` or ``text_completion``."""
    if chat:
        choices = [{"index": i, "message": {"role": "assistant", **message_parts(text, split_reasoning)},
                    "finish_reason": finish} for i, (text, finish) in enumerate(answers)]
    else:
        choices = [{"index": i, "text": text, "finish_reason": finish} for i, (text, finish) in enumerate(answers)]
    return {**head, "object": "chat.completion" if chat else "text_completion", "choices": choices, "usage": usage}
