"""The scripted server's Batch API, after OpenAI's public one (the shapes of the ``openai`` SDK's
``FileObject`` and ``Batch``):

- ``POST /v1/files`` (multipart: ``purpose``, ``file``), ``GET /v1/files/{id}``,
  ``GET /v1/files/{id}/content``;
- ``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window`` "24h", ``metadata``),
  ``GET /v1/batches/{id}``, ``GET /v1/batches`` (newest first, ``limit``/``after``),
  ``POST /v1/batches/{id}/cancel``.

A batch goes ``validating`` -> ``in_progress`` -> ``finalizing`` -> ``completed`` over about
``delay_s``; an input file with a line that is not a request of the batch's endpoint, a repeated
``custom_id`` or several models makes it ``failed`` with ``errors``. Each line is answered as the
same request to the completion route would be (the script's answers, scripted statuses and injected
faults): answers go to the output file, refusals to the error file, one JSON line each
(``id``, ``custom_id``, ``response`` {``status_code``, ``request_id``, ``body``}, ``error``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable

from curation.dry_run.openai_shapes import error_body

ENDPOINTS = {"/v1/chat/completions": True, "/v1/completions": False}  # endpoint -> chat
DONE = ("completed", "failed", "expired", "cancelled")


class BatchJobs:
    """Uploaded files and batches (in memory, for as long as the server runs)."""

    def __init__(self, answer: Callable[[dict, bool], tuple[int, dict]], delay_s: float):
        self.answer, self.delay_s = answer, delay_s
        self.files: dict[str, tuple[dict, bytes]] = {}
        self.batches: dict[str, dict] = {}
        self.counts: Counter = Counter()  # files_uploaded, batches_created, batch_lines
        self.tasks: set[asyncio.Task] = set()

    def add_file(self, name: str, purpose: str, data: bytes) -> dict:
        meta = {"id": f"file-{len(self.files) + 1:06d}", "object": "file", "bytes": len(data),
                "created_at": int(time.time()), "filename": name, "purpose": purpose, "status": "processed",
                "expires_at": None, "status_details": None}
        self.files[meta["id"]] = (meta, data)
        return meta

    def create(self, file_id: str, endpoint: str, metadata: dict | None) -> dict:
        now = int(time.time())
        batch = {"id": f"batch_{len(self.batches) + 1:06d}", "object": "batch", "endpoint": endpoint, "errors": None,
                 "input_file_id": file_id, "completion_window": "24h", "status": "validating",
                 "output_file_id": None, "error_file_id": None, "created_at": now, "in_progress_at": None,
                 "expires_at": now + 86400, "finalizing_at": None, "completed_at": None, "failed_at": None,
                 "expired_at": None, "cancelling_at": None, "cancelled_at": None,
                 "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": metadata or {}}
        self.batches[batch["id"]] = batch
        self.counts["batches_created"] += 1
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return batch

    async def _run(self, b: dict) -> None:
        step = self.delay_s / 3
        await asyncio.sleep(step)
        lines, errors = self._validate(b)
        if errors:
            b.update(status="failed", failed_at=int(time.time()), errors={"object": "list", "data": errors})
            return
        b.update(status="in_progress", in_progress_at=int(time.time()))
        b["request_counts"]["total"] = len(lines)
        await asyncio.sleep(step)
        out, err = [], []
        for n, req in enumerate(lines, 1):
            if b["status"] == "cancelling":
                break
            code, body = self.answer(req["body"], ENDPOINTS[b["endpoint"]])
            self.counts["batch_lines"] += 1
            line = {"id": f"batch_req_{b['id']}_{n}", "custom_id": req["custom_id"],
                    "response": {"status_code": code, "request_id": f"req_{b['id']}_{n}", "body": body}, "error": None}
            (out if code == 200 else err).append(json.dumps(line))
            b["request_counts"]["completed" if code == 200 else "failed"] += 1
        b.update(status="finalizing", finalizing_at=int(time.time()))
        await asyncio.sleep(step)
        for key, rows, name in (("output_file_id", out, "output"), ("error_file_id", err, "errors")):
            if rows:
                data = ("\n".join(rows) + "\n").encode()
                b[key] = self.add_file(f"{b['id']}_{name}.jsonl", "batch_output", data)["id"]
        if b["status"] == "cancelling":
            b.update(status="cancelled", cancelled_at=int(time.time()))
        else:
            b.update(status="completed", completed_at=int(time.time()))

    def _validate(self, b: dict) -> tuple[list[dict], list[dict]]:
        """The input file's requests, or the problems that fail the batch (OpenAI's ``errors.data``)."""
        _, data = self.files[b["input_file_id"]]
        lines, errors, ids, models = [], [], set(), set()
        for n, text in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not text.strip():
                continue
            try:
                req = json.loads(text)
            except json.JSONDecodeError:
                errors.append({"code": "invalid_json_line", "message": "This line is not parseable as valid JSON.",
                               "param": None, "line": n})
                continue
            problem = None
            if not isinstance(req, dict) or not isinstance(req.get("custom_id"), str) or not isinstance(
                    req.get("body"), dict):
                problem = ("invalid_request", "A request needs a custom_id and a body.", "custom_id")
            elif req.get("method") != "POST" or req.get("url") != b["endpoint"]:
                problem = ("invalid_url", f"The url must be {b['endpoint']} and the method POST.", "url")
            elif req["custom_id"] in ids:
                problem = ("duplicate_custom_id", "The custom_id of this line is not unique in the file.", "custom_id")
            if problem:
                errors.append({"code": problem[0], "message": problem[1], "param": problem[2], "line": n})
                continue
            ids.add(req["custom_id"])
            models.add(req["body"].get("model"))
            lines.append(req)
        if len(models) > 1:
            errors.append({"code": "mismatched_model", "message": "A batch file must use one model.",
                           "param": "body.model", "line": None})
        if not lines and not errors:
            errors.append({"code": "empty_file", "message": "The input file holds no request.", "param": None,
                           "line": None})
        return lines, errors


def batch_routes(jobs: BatchJobs) -> list:
    from aiohttp import web

    def refuse(code: int, message: str):
        return web.json_response(error_body(code, message), status=code)

    async def upload(request):
        form = await request.post()
        file, purpose = form.get("file"), form.get("purpose")
        if file is None or not hasattr(file, "file") or purpose not in ("batch", "fine-tune", "assistants"):
            return refuse(400, "Upload a `file` with a `purpose` (batch).")
        jobs.counts["files_uploaded"] += 1
        return web.json_response(jobs.add_file(file.filename, purpose, file.file.read()))

    def file_of(request):
        return jobs.files.get(request.match_info["file_id"])

    async def get_file(request):
        found = file_of(request)
        return web.json_response(found[0]) if found else refuse(404, "No such File object")

    async def content(request):
        found = file_of(request)
        return web.Response(body=found[1], content_type="application/octet-stream") if found else refuse(
            404, "No such File object")

    async def create(request):
        body = await request.json()
        found = jobs.files.get(body.get("input_file_id") or "")
        if found is None:
            return refuse(404, f"No such File object: {body.get('input_file_id')}")
        if found[0]["purpose"] != "batch":
            return refuse(400, "The input file must be uploaded with purpose `batch`.")
        if body.get("endpoint") not in ENDPOINTS:
            return refuse(400, f"Unsupported endpoint {body.get('endpoint')!r} (supported: {', '.join(ENDPOINTS)})")
        if body.get("completion_window") != "24h":
            return refuse(400, "completion_window must be 24h")
        return web.json_response(jobs.create(body["input_file_id"], body["endpoint"], body.get("metadata")))

    async def get_batch(request):
        b = jobs.batches.get(request.match_info["batch_id"])
        return web.json_response(b) if b else refuse(404, "No such Batch object")

    async def cancel(request):
        b = jobs.batches.get(request.match_info["batch_id"])
        if b is None:
            return refuse(404, "No such Batch object")
        if b["status"] not in DONE:
            b.update(status="cancelling", cancelling_at=int(time.time()))
        return web.json_response(b)

    async def list_batches(request):
        newest = sorted(jobs.batches.values(), key=lambda b: b["id"], reverse=True)
        after = request.query.get("after")
        if after in jobs.batches:
            newest = [b for b in newest if b["id"] < after]
        limit = int(request.query.get("limit", 20))
        page = newest[:limit]
        return web.json_response({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                                  "last_id": page[-1]["id"] if page else None, "has_more": len(newest) > limit})

    return [web.post("/v1/files", upload), web.get("/v1/files/{file_id}", get_file),
            web.get("/v1/files/{file_id}/content", content), web.post("/v1/batches", create),
            web.get("/v1/batches", list_batches), web.get("/v1/batches/{batch_id}", get_batch),
            web.post("/v1/batches/{batch_id}/cancel", cancel)]
