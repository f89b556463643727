"""The ``vllm`` teacher: offline batch generation with ``vllm.LLM`` on local GPUs (extra ``vllm``).

Requests go to vLLM in chunks, each with its own ``SamplingParams`` seed (n=1 per request, so
every sample is individually resumable; vLLM's prefix cache shares the prompt between the
samples of one problem). Each chunk's results are handed on as soon as it finishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from curation.config import TeacherConfig
from curation.optional import require
from curation.teachers.requests import Completion, GenRequest, render_chat

CHUNK = 1024


class VLLMTeacher:
    live = True

    def __init__(self, cfg: TeacherConfig):
        vllm = require("vllm", "vllm", "the vllm teacher")
        self.cfg = cfg
        self.vllm = vllm
        self.llm = vllm.LLM(model=cfg.model, tensor_parallel_size=cfg.tensor_parallel_size, seed=cfg.seed or 0)
        self.tokenizer = self.llm.get_tokenizer()

    def describe(self) -> dict:
        return {"backend": "vllm", "model": self.cfg.model, "tensor_parallel_size": self.cfg.tensor_parallel_size}

    def generate(self, requests: Sequence[GenRequest], on_result: Callable[[Completion], None]) -> None:
        c = self.cfg
        for start in range(0, len(requests), CHUNK):
            chunk = requests[start:start + CHUNK]
            t0 = time.perf_counter()
            prompts = [render_chat(self.tokenizer, r.prompt) for r in chunk]
            params = [self.vllm.SamplingParams(n=1, temperature=c.temperature, top_p=c.top_p,
                                               max_tokens=c.max_tokens, seed=r.seed) for r in chunk]
            outputs = self.llm.generate(prompts, params, use_tqdm=True)
            per = (time.perf_counter() - t0) / max(1, len(chunk))
            for req, out in zip(chunk, outputs, strict=True):
                best = out.outputs[0]
                on_result(Completion(req.problem_id, req.sample_index, req.round, req.seed, best.text,
                                     best.finish_reason, len(out.prompt_token_ids or []), len(best.token_ids),
                                     seconds=per))
