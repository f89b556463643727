"""The ``vllm`` teacher: offline generation with ``vllm.LLM`` on local GPUs (extra ``vllm``).

No chunk barriers: requests are added to vLLM's engine as they arrive from the request queue
and every finished one is handed on at the engine step that finished it, so the engine keeps
its batch full across parts and rounds. Each request has its own ``SamplingParams`` seed (n=1
per request, so every sample is individually resumable; vLLM's prefix cache shares the prompt
between the samples of one problem).
"""

from __future__ import annotations

import itertools
import time

from curation.config import TeacherConfig
from curation.optional import require
from curation.teachers.base import BlockingServe
from curation.teachers.requests import Completion, render_chat


class VLLMTeacher(BlockingServe):
    def __init__(self, cfg: TeacherConfig):
        vllm = require("vllm", "vllm", "the vllm teacher")
        self.cfg = cfg
        self.vllm = vllm
        self.llm = vllm.LLM(model=cfg.model, tensor_parallel_size=cfg.tensor_parallel_size, seed=cfg.seed or 0)
        self.tokenizer = self.llm.get_tokenizer()

    def describe(self) -> dict:
        return {"backend": "vllm", "model": self.cfg.model, "tensor_parallel_size": self.cfg.tensor_parallel_size}

    def serve_blocking(self, take, emit) -> None:
        engine, c = self.llm.llm_engine, self.cfg
        ids = itertools.count()
        running: dict[str, tuple] = {}  # engine request id -> (request, start time)
        ended = False
        while not ended or running:
            # wait for work only when the engine is idle; otherwise take whatever is queued
            new, ended_now = take(not running and not ended) if not ended else ([], True)
            ended = ended or ended_now
            for req in new:
                rid = str(next(ids))
                params = self.vllm.SamplingParams(n=1, temperature=c.temperature, top_p=c.top_p,
                                                  max_tokens=c.max_tokens, seed=req.seed)
                engine.add_request(rid, render_chat(self.tokenizer, req.prompt), params)
                running[rid] = (req, time.perf_counter())
            if not running:
                continue
            for out in engine.step():
                if not out.finished or out.request_id not in running:
                    continue
                req, t0 = running.pop(out.request_id)
                best = out.outputs[0]
                emit(Completion(req.problem_id, req.sample_index, req.round, req.seed, best.text,
                                best.finish_reason, len(out.prompt_token_ids or []), len(best.token_ids),
                                seconds=time.perf_counter() - t0))
