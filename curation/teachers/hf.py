"""The ``hf`` teacher: transformers ``generate`` for small local models (CPU or one GPU).

One request at a time with its own seed (taken from the request queue as it is filled), so
results do not depend on batching: slow, but exact and resumable. Meant for tests, debugging and
evaluating small models.
"""

from __future__ import annotations

import time

from curation.config import TeacherConfig
from curation.optional import require
from curation.teachers.base import BlockingServe
from curation.teachers.requests import Completion, GenRequest, render_chat


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

    def describe(self) -> dict:
        return {"backend": "hf", "model": self.cfg.model, "device": self.device}

    def serve_blocking(self, take, emit) -> None:
        while True:
            requests, ended = take(True)
            if ended:
                return
            for req in requests:
                emit(self._one(req))

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
