"""A scripted OpenAI-compatible server on loopback, for tests, benchmarks and dry runs.

    python -m curation.teachers.scripted_server --script script.json --latency-ms 50 [--faults 429:0.2,drop:0.1]

prints ``PORT <n>`` once it listens on 127.0.0.1. Answers are R1-style (``<think>...</think>``
then the answer); a script picks them per prompt:

    {"rules": [{"match": "substring of the prompt", "answers": ["...", "..."],
                "finish_reason": "stop", "status": null}],
     "default": "<think>...</think> The answer is \\boxed{0}."}

The answer is ``answers[seed % len(answers)]``, so it depends only on the request (a re-run
gets the same data). ``status`` makes every request matching a rule fail with that HTTP code.
``--faults`` makes the *first* attempt of a share of the requests (chosen by a hash of the
request) fail: ``429``/``500``/... with that status, ``drop`` by closing the connection. Every
request is logged to ``--log`` (JSONL) when given.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections import Counter

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

    def answer(self, prompt: str, seed: int) -> tuple[int | None, str, str]:
        for rule in self.rules:
            if rule["match"] in prompt:
                answers = rule.get("answers") or [self.default]
                return rule.get("status"), answers[seed % len(answers)], rule.get("finish_reason", "stop")
        return None, self.default, "stop"


def make_app(script: Script, latency_s: float, log_path: str | None):
    from aiohttp import web

    log = open(log_path, "a", buffering=1) if log_path else None  # noqa: SIM115 (lives as long as the app)

    async def complete(request: web.Request, chat: bool):
        body = await request.json()
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        seed = int(body.get("seed") or 0)
        key = f"{seed}:{prompt}"
        script.attempts[key] += 1
        fault = script.fault_for(key)
        status, text, finish = script.answer(prompt, seed)
        outcome = fault or (f"http_{status}" if status else "ok")
        script.counts[outcome] += 1
        if log:
            log.write(json.dumps({"prompt": prompt, "seed": seed, "attempt": script.attempts[key],
                                  "outcome": outcome}) + "\n")
        if latency_s:
            await asyncio.sleep(latency_s)
        if fault == "drop":
            request.transport.close()  # the client sees the connection die mid-request
            raise web.HTTPInternalServerError()
        if fault or status:
            code = int(fault or status)
            return web.json_response({"error": {"message": "injected", "code": code}}, status=code,
                                     headers={"Retry-After": "0"} if code == 429 else None)
        if finish == "length":
            text = text[: max(1, len(text) // 2)]
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
        if chat:
            message = {"role": "assistant", "content": text}
            if script.split_reasoning and "</think>" in text:
                reasoning, _, content = text.partition("</think>")
                message = {"role": "assistant", "content": content.strip(),
                           "reasoning_content": reasoning.replace("<think>", "").strip()}
            choice = {"index": 0, "message": message, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish}
        return web.json_response({"id": f"cmpl-{script.counts['ok']}", "object": "chat.completion" if chat else
                                  "text_completion", "model": body.get("model"), "choices": [choice],
                                  "usage": usage})

    async def chat(request):
        return await complete(request, True)

    async def plain(request):
        return await complete(request, False)

    async def models(request):
        return web.json_response({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    async def stats(request):
        return web.json_response(dict(script.counts))

    app = web.Application()
    app.add_routes([web.post("/v1/chat/completions", chat), web.post("/v1/completions", plain),
                    web.get("/v1/models", models), web.get("/stats", stats)])
    return app


def parse_faults(text: str | None) -> dict[str, float]:
    out = {}
    for item in (text or "").split(","):
        if item.strip():
            kind, _, share = item.partition(":")
            out[kind.strip()] = float(share)
    return out


class ServerProcess:
    """Run the scripted server in a child process: ``with ServerProcess(...) as srv: srv.base_url``."""

    def __init__(self, script: dict | None = None, *, latency_ms: float = 0.0, faults: str | None = None,
                 split_reasoning: bool = False, log: str | None = None, port: int = 0):
        self.args = ["--latency-ms", str(latency_ms), "--port", str(port)]
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
        self.proc = subprocess.Popen([sys.executable, "-m", "curation.teachers.scripted_server", *args],
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

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--script", help="JSON script file (rules and default answer)")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--faults", help="first-attempt faults, e.g. 429:0.2,500:0.1,drop:0.1")
    ap.add_argument("--split-reasoning", action="store_true", help="return reasoning_content separately (chat)")
    ap.add_argument("--log", help="append one JSON line per request here")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    spec = json.loads(open(args.script).read()) if args.script else None
    script = Script(spec, parse_faults(args.faults), args.split_reasoning)

    async def serve():
        runner = web.AppRunner(make_app(script, args.latency_ms / 1000, args.log), access_log=None)
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
