"""A scripted OpenAI-compatible server on loopback, for tests, benchmarks and dry runs.

    python -m curation.dry_run.scripted_server --script script.json --latency-ms 50 [--faults 429:0.2,drop:0.1]
        [--latency lognormal:200,1.0,3000] [--models NAME,NAME]

prints ``PORT <n>`` once it listens on 127.0.0.1. Answers are R1-style (``<think>...</think>``
then the answer); a script picks them per prompt:

    {"rules": [{"match": "substring of the prompt", "answers": ["...", "..."],
                "finish_reason": "stop", "status": null}],
     "default": "<think>...</think> The answer is \\boxed{0}."}

The answer is ``answers[seed % len(answers)]``, with ``{seed}`` in its text replaced by the seed,
so it depends only on the request (a re-run gets the same data); with ``n > 1``, choice ``i`` is
the answer for seed ``seed + i``. ``--script`` takes a JSON file or the name of a shipped script
(``curation/dry_run/scripts/NAME.json``: ``math-demo`` answers the embedded math demo set, right
for some problems and seeds, wrong for others).
``"stream": true`` answers as server-sent events, as OpenAI and vLLM do. ``status`` makes every
request matching a rule fail with that HTTP code; ``latency_ms`` gives its requests that delay.
``--faults`` makes the *first* attempt of a share of the requests (chosen by a hash of the request)
fail: ``429``/``500``/... with that status, ``drop`` by closing the connection. ``--latency
lognormal:MEDIAN_MS,SIGMA,CAP_MS`` gives each request a heavy-tailed delay drawn from a hash of its
seed, prompt and attempt, so re-runs see the same delays (``--latency-ms`` is a fixed delay).
``--models`` names the models served: ``/v1/models`` lists them and any other model gets a 404.
Without it every model name is accepted, and ``/v1/models`` answers 404 (as some hosted APIs do),
so a client that checks the served names before starting (``curate``'s openai teacher) goes on.
Every request is logged to ``--log`` (JSONL) when given. Errors have OpenAI's shape:
``{"error": {"message", "type", "code"}}``. ``/v1/embeddings`` answers every input with
``hashed_embedding`` (words hashed into ``EMBED_DIM`` signed buckets, unit length): a stand-in for
an embedding model that depends only on the text.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

DEFAULT_ANSWER = "<think>\nLet me think about this.\n</think>\n\nThe answer is \\boxed{0}."
LATENCY_FORMS = "fixed:MS or lognormal:MEDIAN_MS,SIGMA,CAP_MS"
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


@dataclass(frozen=True)
class Latency:
    """A request's delay: fixed (sigma 0), or lognormal with this median, capped."""

    median_s: float = 0.0
    sigma: float = 0.0
    cap_s: float = math.inf

    @classmethod
    def parse(cls, text: str) -> Latency:
        kind, _, params = text.partition(":")
        try:
            v = [float(x) for x in params.split(",")]
        except ValueError:
            v = []
        if kind == "fixed" and len(v) == 1 and v[0] >= 0:
            return cls(v[0] / 1000)
        if kind == "lognormal" and len(v) == 3 and v[0] > 0 and v[1] >= 0 and v[2] > 0:
            return cls(v[0] / 1000, v[1], v[2] / 1000)
        raise ValueError(f"latency {text!r}: expected {LATENCY_FORMS}")

    def draw(self, seed: int, prompt: str, attempt: int) -> float:
        """Seconds to wait; a hash of the request, not a global RNG, so every run sees the same delays."""
        if not self.sigma:
            return min(self.median_s, self.cap_s)
        digest = hashlib.sha256(f"latency\0{seed}\0{prompt}\0{attempt}".encode()).digest()
        u = (int.from_bytes(digest[:8], "little") + 0.5) / 2**64
        return min(self.median_s * math.exp(self.sigma * NormalDist().inv_cdf(u)), self.cap_s)


class Script:
    def __init__(self, spec: dict | None = None, faults: dict[str, float] | None = None, split_reasoning=False):
        spec = spec or {}
        self.rules = spec.get("rules", [])
        self.default = spec.get("default", DEFAULT_ANSWER)
        self.faults = faults or {}
        self.split_reasoning = split_reasoning
        self.attempts: Counter = Counter()
        self.counts: Counter = Counter()

    def fault_for(self, key: str) -> str | None:
        """The injected fault of a request's first attempt, chosen by its hash (None: no fault)."""
        if self.attempts[key] > 1 or not self.faults:
            return None
        u = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little") / 2**32
        acc = 0.0
        for kind, share in self.faults.items():
            acc += share
            if u < acc:
                return kind
        return None

    def rule_for(self, prompt: str) -> dict | None:
        return next((rule for rule in self.rules if rule["match"] in prompt), None)

    def answer(self, prompt: str, seed: int) -> tuple[int | None, str, str]:
        rule = self.rule_for(prompt)
        if rule is None:
            return None, self.default, "stop"
        answers = rule.get("answers") or [self.default]
        text = answers[seed % len(answers)].replace("{seed}", str(seed))
        return rule.get("status"), text, rule.get("finish_reason", "stop")


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


def make_app(script: Script, latency: Latency | float, log_path: str | None, models: list[str] | None = None):
    """``latency`` is a ``Latency`` or fixed seconds; ``models`` None accepts every model name."""
    from aiohttp import web

    if not isinstance(latency, Latency):
        latency = Latency(float(latency))
    log = open(log_path, "a", buffering=1) if log_path else None  # noqa: SIM115 (lives as long as the app)

    def error_response(code: int, message: str):
        return web.json_response(error_body(code, message), status=code,
                                 headers={"Retry-After": "0"} if code == 429 else None)

    async def complete(request: web.Request, chat: bool):
        t_start = time.time()
        body = await request.json()
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        seed = int(body.get("seed") or 0)
        n, model, stream = int(body.get("n") or 1), body.get("model"), bool(body.get("stream"))
        key = f"{seed}:{prompt}"
        script.attempts[key] += 1
        attempt = script.attempts[key]
        fault = script.fault_for(key)
        rule = script.rule_for(prompt)
        status = rule.get("status") if rule else None
        delay = latency.draw(seed, prompt, attempt)
        if rule and rule.get("latency_ms") is not None:  # a rule's own fixed delay (a slow problem)
            delay = float(rule["latency_ms"]) / 1000
        code, message, outcome = None, "", "ok"
        if models is not None and model not in models:  # checked before any work, as vLLM does
            code, message, outcome, delay = 404, f"The model `{model}` does not exist.", "http_404", 0.0
        elif n < 1:
            code, message, outcome, delay = 400, f"n must be at least 1, got {n}.", "http_400", 0.0
        elif fault:
            code, message, outcome = None if fault == "drop" else int(fault), f"injected fault {fault}", fault
        elif status:
            code, message = int(status), f"scripted status {status} for rule {rule['match']!r}"
            outcome = f"http_{code}"
        script.counts[outcome] += 1
        if log:
            log.write(json.dumps({"prompt": prompt, "seed": seed, "attempt": attempt, "outcome": outcome,
                                  "t_start": t_start, "latency_s": delay, "model": model, "n": n,
                                  "stream": stream}) + "\n")
        if delay:
            await asyncio.sleep(delay)
        if outcome == "drop":
            request.transport.close()  # the client sees the connection die mid-request
            raise web.HTTPInternalServerError()
        if code:
            return error_response(code, message)
        answers = []
        for i in range(n):
            _, text, finish = script.answer(prompt, seed + i)
            answers.append((text[: max(1, len(text) // 2)] if finish == "length" else text, finish))
        completion_tokens = sum(len(text.split()) for text, _ in answers)
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": completion_tokens,
                 "total_tokens": len(prompt.split()) + completion_tokens}
        head = {"id": f"cmpl-{script.counts['ok']}", "created": int(t_start), "model": model}
        if stream:
            return await send_stream(request, head, answers, chat, usage,
                                     bool((body.get("stream_options") or {}).get("include_usage")))
        if chat:
            choices = [{"index": i, "message": {"role": "assistant", **message_parts(text, script.split_reasoning)},
                        "finish_reason": finish} for i, (text, finish) in enumerate(answers)]
        else:
            choices = [{"index": i, "text": text, "finish_reason": finish} for i, (text, finish) in enumerate(answers)]
        return web.json_response({**head, "object": "chat.completion" if chat else "text_completion",
                                  "choices": choices, "usage": usage})

    async def send_stream(request, head: dict, answers, chat: bool, usage: dict, include_usage: bool):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        head = {**head, "object": "chat.completion.chunk" if chat else "text_completion"}
        for choice in stream_choices(answers, chat, script.split_reasoning):
            await resp.write(f"data: {json.dumps({**head, 'choices': [choice]})}\n\n".encode())
        if include_usage:
            await resp.write(f"data: {json.dumps({**head, 'choices': [], 'usage': usage})}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def chat(request):
        return await complete(request, True)

    async def plain(request):
        return await complete(request, False)

    async def list_models(request):
        if models is None:
            return error_response(404, "this scripted server accepts any model name (start it with --models "
                                       "NAME,NAME to list names and refuse others)")
        return web.json_response({"object": "list", "data": [{"id": name, "object": "model"} for name in models]})

    async def stats(request):
        return web.json_response(dict(script.counts))

    async def embeddings(request):
        body = await request.json()
        texts = [body["input"]] if isinstance(body.get("input"), str) else list(body.get("input") or [])
        script.counts["embeddings"] += 1
        if log:
            log.write(json.dumps({"embeddings": len(texts), "model": body.get("model"), "t_start": time.time()}) + "\n")
        if models is not None and body.get("model") not in models:
            return error_response(404, f"The model `{body.get('model')}` does not exist.")
        return web.json_response({"object": "list", "model": body.get("model"), "usage": {"prompt_tokens": 0},
                                  "data": [{"object": "embedding", "index": i, "embedding": hashed_embedding(t)}
                                           for i, t in enumerate(texts)]})

    app = web.Application()
    app.add_routes([web.post("/v1/chat/completions", chat), web.post("/v1/completions", plain),
                    web.get("/v1/models", list_models), web.get("/stats", stats),
                    web.post("/v1/embeddings", embeddings)])
    return app


SCRIPTS_DIR = Path(__file__).parent / "scripts"


def read_script(name: str) -> dict:
    """A script from a JSON file, or a shipped one by name (``SCRIPTS_DIR/NAME.json``)."""
    path = Path(name)
    if not path.is_file() and (SCRIPTS_DIR / f"{name}.json").is_file():
        path = SCRIPTS_DIR / f"{name}.json"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in SCRIPTS_DIR.glob("*.json")))
        raise SystemExit(f"scripted_server: error: --script {name}: no such file nor shipped script ({shipped})")
    return json.loads(path.read_text())


def parse_faults(text: str | None) -> dict[str, float]:
    out = {}
    for item in (text or "").split(","):
        if item.strip():
            kind, _, share = item.partition(":")
            out[kind.strip()] = float(share)
    return out


class ServerProcess:
    """Run the scripted server in a child process: ``with ServerProcess(...) as srv: srv.base_url``.

    ``latency`` (e.g. ``"lognormal:200,1.0,3000"``) replaces ``latency_ms``; ``models`` names the
    models served (None: any name is accepted)."""

    def __init__(self, script: dict | None = None, *, latency_ms: float = 0.0, faults: str | None = None,
                 split_reasoning: bool = False, log: str | None = None, port: int = 0,
                 latency: str | None = None, models: list[str] | None = None):
        self.args = ["--latency-ms", str(latency_ms), "--port", str(port)]
        if latency:
            Latency.parse(latency)  # a bad spec fails here, not as a child that never prints its port
            self.args += ["--latency", latency]
        if models:
            self.args += ["--models", ",".join(models)]
        if faults:
            self.args += ["--faults", faults]
        if split_reasoning:
            self.args.append("--split-reasoning")
        if log:
            self.args += ["--log", str(log)]
        self.script = script
        self.proc = None
        self.base_url = ""

    def __enter__(self) -> ServerProcess:
        import subprocess
        import tempfile

        args = list(self.args)
        if self.script is not None:
            fh = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
            json.dump(self.script, fh)
            fh.close()
            args += ["--script", fh.name]
        self.proc = subprocess.Popen([sys.executable, "-m", "curation.dry_run.scripted_server", *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"scripted server did not start (said {line!r})")
        self.port = int(line.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        return self

    def stats(self) -> dict:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as resp:
            return json.loads(resp.read())

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


def main(argv: list[str] | None = None) -> None:
    from aiohttp import web

    def latency_arg(text: str) -> Latency:
        try:
            return Latency.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--script", help="JSON script file (rules and default answer) or a shipped script's name "
                    "(math-demo)")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay per request")
    ap.add_argument("--latency", type=latency_arg, help=f"delay per request, {LATENCY_FORMS} (replaces --latency-ms)")
    ap.add_argument("--models", help="comma-separated model names served (default: any name is accepted)")
    ap.add_argument("--faults", help="first-attempt faults, e.g. 429:0.2,500:0.1,drop:0.1")
    ap.add_argument("--split-reasoning", action="store_true", help="return reasoning_content separately (chat)")
    ap.add_argument("--log", help="append one JSON line per request here")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    spec = read_script(args.script) if args.script else None
    script = Script(spec, parse_faults(args.faults), args.split_reasoning)
    latency = args.latency or Latency(args.latency_ms / 1000)
    models = [m.strip() for m in (args.models or "").split(",") if m.strip()] or None

    async def serve():
        runner = web.AppRunner(make_app(script, latency, args.log, models), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
