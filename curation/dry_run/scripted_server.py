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
``--rate-limit N`` (and ``--token-limit T``) let through at most N completion requests (T tokens:
prompt words plus ``max_tokens``) in any ``--limit-window`` seconds and refuse the rest with 429,
``Retry-After`` and OpenAI's ``x-ratelimit-*`` headers (``curation.dry_run.limits``); refusals are
counted as ``rate_limited`` in ``/stats``. The Batch API (``/v1/files``, ``/v1/batches``) answers an
uploaded batch file with the same answers (``curation.dry_run.batch_api``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

from curation.dry_run.batch_api import BatchJobs, batch_routes
from curation.dry_run.latency import LATENCY_FORMS, Latency
from curation.dry_run.limits import WindowLimit
from curation.dry_run.openai_shapes import completion_body, error_body, hashed_embedding, stream_choices

DEFAULT_ANSWER = "<think>\nLet me think about this.\n</think>\n\nThe answer is \\boxed{0}."

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


def make_app(script: Script, latency: Latency | float, log_path: str | None, models: list[str] | None = None,
             limit: WindowLimit | None = None, batch_delay_s: float = 0.3):
    """``latency`` is a ``Latency`` or fixed seconds; ``models`` None accepts every model name; ``limit``
    refuses completion requests beyond a rate; a batch takes about ``batch_delay_s`` to complete."""
    from aiohttp import web

    if not isinstance(latency, Latency):
        latency = Latency(float(latency))
    log = open(log_path, "a", buffering=1) if log_path else None  # noqa: SIM115 (lives as long as the app)

    def error_response(code: int, message: str, headers: dict | None = None):
        headers = headers if headers is not None else ({"Retry-After": "0"} if code == 429 else None)
        return web.json_response(error_body(code, message), status=code, headers=headers)

    def answer(body: dict, chat: bool, t_start: float) -> dict:
        """The outcome of one completion request (its attempt counted, logged): ``code`` (None: answered)
        and ``message``, ``outcome``, ``delay``, and for an answer ``head``, ``answers``, ``usage``."""
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
        out = {"code": code, "message": message, "outcome": outcome, "delay": delay}
        if code or outcome == "drop":
            return out
        answers = []
        for i in range(n):
            _, text, finish = script.answer(prompt, seed + i)
            answers.append((text[: max(1, len(text) // 2)] if finish == "length" else text, finish))
        completion_tokens = sum(len(text.split()) for text, _ in answers)
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": completion_tokens,
                 "total_tokens": len(prompt.split()) + completion_tokens}
        head = {"id": f"cmpl-{script.counts['ok']}", "created": int(t_start), "model": model}
        return {**out, "head": head, "answers": answers, "usage": usage}

    def batch_answer(body: dict, chat: bool) -> tuple[int, dict]:
        """A batch line's status code and response body (no latency: the batch has its own pace)."""
        a = answer(body, chat, time.time())
        if a["outcome"] == "drop":
            return 500, error_body(500, "the request was dropped")
        if a["code"]:
            return a["code"], error_body(a["code"], a["message"])
        return 200, completion_body(a["head"], a["answers"], chat, a["usage"], script.split_reasoning)

    async def complete(request: web.Request, chat: bool):
        t_start = time.time()
        body = await request.json()
        headers: dict = {}
        if limit is not None:
            prompt = body["messages"][-1]["content"] if chat else body["prompt"]
            ok, headers = limit.admit(len(prompt.split()) + int(body.get("max_tokens") or 0))
            if not ok:  # refused before any work; the script's attempts and faults are left as they were
                script.counts["rate_limited"] += 1
                if log:
                    log.write(json.dumps({"prompt": prompt, "seed": body.get("seed"), "outcome": "rate_limited",
                                          "t_start": t_start}) + "\n")
                return error_response(429, "Rate limit reached for requests", headers)
        a = answer(body, chat, t_start)
        if a["delay"]:
            await asyncio.sleep(a["delay"])
        if a["outcome"] == "drop":
            request.transport.close()  # the client sees the connection die mid-request
            raise web.HTTPInternalServerError()
        if a["code"]:
            return error_response(a["code"], a["message"], headers or None)
        if body.get("stream"):
            return await send_stream(request, a["head"], a["answers"], chat, a["usage"],
                                     bool((body.get("stream_options") or {}).get("include_usage")), headers)
        return web.json_response(completion_body(a["head"], a["answers"], chat, a["usage"], script.split_reasoning),
                                 headers=headers)

    async def send_stream(request, head: dict, answers, chat: bool, usage: dict, include_usage: bool, headers):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           **headers})
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

    jobs = BatchJobs(batch_answer, batch_delay_s)

    async def stats(request):
        return web.json_response({**script.counts, **jobs.counts})

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

    app = web.Application(client_max_size=256 * 2**20)  # batch files are uploaded whole
    app.add_routes([web.post("/v1/chat/completions", chat), web.post("/v1/completions", plain),
                    web.get("/v1/models", list_models), web.get("/stats", stats),
                    web.post("/v1/embeddings", embeddings), *batch_routes(jobs)])
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
                 latency: str | None = None, models: list[str] | None = None, rate_limit: int | None = None,
                 token_limit: int | None = None, limit_window_s: float = 1.0, limit_headers: bool = True,
                 batch_delay_s: float = 0.3):
        self.args = ["--latency-ms", str(latency_ms), "--port", str(port), "--batch-delay-ms",
                     str(batch_delay_s * 1000), "--limit-window", str(limit_window_s)]
        for flag, value in (("--rate-limit", rate_limit), ("--token-limit", token_limit)):
            if value is not None:
                self.args += [flag, str(value)]
        if not limit_headers:
            self.args.append("--no-limit-headers")
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
    ap.add_argument("--rate-limit", type=int, help="completion requests let through per --limit-window (429 beyond)")
    ap.add_argument("--token-limit", type=int, help="tokens (prompt words + max_tokens) per --limit-window")
    ap.add_argument("--limit-window", type=float, default=1.0, help="seconds of the rate limit's sliding window")
    ap.add_argument("--no-limit-headers", action="store_true", help="no x-ratelimit-* headers on answers")
    ap.add_argument("--batch-delay-ms", type=float, default=300.0, help="how long a batch takes to complete")
    args = ap.parse_args(argv)
    spec = read_script(args.script) if args.script else None
    script = Script(spec, parse_faults(args.faults), args.split_reasoning)
    latency = args.latency or Latency(args.latency_ms / 1000)
    models = [m.strip() for m in (args.models or "").split(",") if m.strip()] or None

    async def serve():
        limit = None
        if args.rate_limit is not None or args.token_limit is not None:
            limit = WindowLimit(args.rate_limit, args.token_limit, args.limit_window,
                                headers=not args.no_limit_headers)
        runner = web.AppRunner(make_app(script, latency, args.log, models, limit, args.batch_delay_ms / 1000),
                               access_log=None)
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
