"""The ``hf`` teacher: transformers ``generate`` for small local models (CPU or one GPU).

Sampling (temperature > 0) takes one request at a time with its own seed, so results do not
depend on batching: slow, but exact and resumable. Greedy decoding (temperature 0) has no seed to
honour, so whatever is queued is decoded in left-padded batches of ``GREEDY_BATCH`` (the same
answers as one at a time, up to float rounding). Meant for tests, debugging and evaluating small
models.
"""

from __future__ import annotations

import time

from curation.config import TeacherConfig
from curation.optional import require
from curation.teachers.base import BlockingServe
from curation.teachers.requests import Completion, GenRequest, render_chat

GREEDY_BATCH = 64


class HFTeacher(BlockingServe):
    def __init__(self, cfg: TeacherConfig):
        torch = require("torch", "train", "the hf teacher")
        transformers = require("transformers", "train", "the hf teacher")
        self.cfg = cfg
        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(cfg.model)
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.model = transformers.AutoModelForCausalLM.from_pretrained(cfg.model, dtype=dtype).to(self.device)
        self.model.eval()
        self.tokenizer.padding_side = "left"  # batched greedy prompts end where generation starts

    def describe(self) -> dict:
        return {"backend": "hf", "model": self.cfg.model, "device": self.device}

    def serve_blocking(self, take, emit) -> None:
        while True:
            requests, ended = take(True)
            if ended:
                return
            if self.cfg.temperature > 0:
                for req in requests:
                    emit(self._one(req))
                continue
            more, ended = take(False)
            batch = sorted(requests + more, key=lambda r: len(r.prompt))  # similar lengths pad less
            for at in range(0, len(batch), GREEDY_BATCH):
                for completion in self._greedy(batch[at:at + GREEDY_BATCH]):
                    emit(completion)
            if ended:
                return

    def _one(self, req: GenRequest) -> Completion:
        c, tok, torch = self.cfg, self.tokenizer, self.torch
        eos = tok.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        t0 = time.perf_counter()
        ids = tok(render_chat(tok, req.prompt), return_tensors="pt", add_special_tokens=False).to(self.device)
        torch.manual_seed(req.seed)
        sample = c.temperature > 0
        with torch.no_grad():
            out = self.model.generate(**ids, do_sample=sample, temperature=c.temperature if sample else None,
                                      top_p=c.top_p if sample else None, max_new_tokens=c.max_tokens,
                                      pad_token_id=pad, eos_token_id=eos)
        new = out[0, ids["input_ids"].shape[1]:].tolist()
        finish = "stop" if new and new[-1] == eos else "length"
        return Completion(req.problem_id, req.sample_index, req.round, req.seed,
                          tok.decode(new, skip_special_tokens=True), finish, ids["input_ids"].shape[1],
                          len(new), seconds=time.perf_counter() - t0)

    def _greedy(self, requests: list[GenRequest]) -> list[Completion]:
        tok, torch = self.tokenizer, self.torch
        eos = tok.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        t0 = time.perf_counter()
        ids = tok([render_chat(tok, r.prompt) for r in requests], return_tensors="pt", padding=True,
                  add_special_tokens=False).to(self.device)
        with torch.no_grad():
            out = self.model.generate(**ids, do_sample=False, max_new_tokens=self.cfg.max_tokens, pad_token_id=pad,
                                      eos_token_id=eos)
        seconds = (time.perf_counter() - t0) / len(requests)
        width, done = ids["input_ids"].shape[1], []
        for row, req in enumerate(requests):
            new = out[row, width:].tolist()
            finish = "stop" if eos in new else "length"
            new = new[:new.index(eos) + 1] if eos in new else new
            prompt_tokens = int(ids["attention_mask"][row].sum())
            done.append(Completion(req.problem_id, req.sample_index, req.round, req.seed,
                                   tok.decode(new, skip_special_tokens=True), finish, prompt_tokens, len(new),
                                   seconds=seconds))
        return done
