"""A Hub-compatible endpoint on loopback for push tests (the subset of the API that
huggingface_hub's create_repo / list_repo_tree / create_commit use, with the LFS basic transfer).

It records every call, stores repos in memory, creates a repo with no organization in the token
owner's namespace (and refuses namespaces the token cannot write), and can fail chosen requests
on purpose:
``hub.fail(route_substring, times, status)``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading

from aiohttp import web

TOKEN = "hf_test_token"
LFS_SUFFIXES = (".parquet", ".png", ".safetensors")


def _blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    def __init__(self, user: str = "tester", orgs: tuple[str, ...] = ("org",)):
        self.user, self.orgs = user, orgs  # the token's owner and the orgs it may write to
        self.repos: dict[str, dict] = {}  # "org/name" -> {"branches": {rev: {path: bytes}}, "private": bool}
        self.lfs: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []
        self.commits: list[dict] = []
        self._faults: list[list] = []
        self.url = ""

    def fail(self, route: str, times: int = 1, status: int = 500) -> None:
        self._faults.append([route, times, status])

    # --- serving -------------------------------------------------------------------------------------------
    def start(self) -> FakeHub:
        ready = threading.Event()

        def serve():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self._start(ready))
            self.loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)
        return self

    async def _start(self, ready):
        app = web.Application(client_max_size=1024**3, middlewares=[self._record_and_check])
        app.add_routes([
            web.get("/api/whoami-v2", self.whoami),
            web.post("/api/repos/create", self.create),
            web.post("/api/validate-yaml", self.validate_yaml),
            web.post("/api/datasets/{org}/{name}/preupload/{rev}", self.preupload),
            web.post("/datasets/{org}/{name}.git/info/lfs/objects/batch", self.lfs_batch),
            web.put("/lfs-upload/{oid}", self.lfs_put),
            web.post("/api/datasets/{org}/{name}/commit/{rev}", self.commit),
            web.get("/api/datasets/{org}/{name}/tree/{rev}", self.tree),
            web.get("/api/datasets/{org}/{name}/tree/{rev}/{path:.*}", self.tree),
            web.post("/api/datasets/{org}/{name}/paths-info/{rev}", self.paths_info),
            web.get("/datasets/{org}/{name}/resolve/{rev}/{path:.*}", self.resolve),
            web.get("/api/datasets/{org}/{name}/revision/{rev}", self.info),
            web.post("/api/datasets/{org}/{name}/branch/{branch}", self.branch),
        ])
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        ready.set()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)

    @web.middleware
    async def _record_and_check(self, request, handler):
        """Record the call, fail it if a fault is armed for its route, require the token."""
        self.calls.append((request.method, request.path))
        for fault in self._faults:
            if fault[0] in request.path and fault[1] > 0:
                fault[1] -= 1
                return web.json_response({"error": "injected"}, status=fault[2])
        if request.path != "/api/whoami-v2" and not request.path.startswith("/lfs-upload") \
                and request.headers.get("authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "Invalid credentials"}, status=401)
        return await handler(request)

    def _repo(self, request):
        return self.repos.get(f"{request.match_info['org']}/{request.match_info['name']}")

    # --- endpoints -----------------------------------------------------------------------------------------
    async def whoami(self, request):
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "Invalid credentials in Authorization header"}, status=401)
        return web.json_response({"type": "user", "name": self.user, "orgs": [{"name": o} for o in self.orgs],
                                  "auth": {"accessToken": {"role": "write"}}})

    async def create(self, request):
        body = await request.json()
        namespace = body.get("organization") or self.user  # no organization: the token owner's namespace
        if namespace not in (self.user, *self.orgs):
            return web.json_response({"error": f'You don\'t have the rights to create a dataset under the namespace '
                                               f'"{namespace}"'}, status=403)
        rid = f"{namespace}/{body['name']}"
        if rid in self.repos:
            return web.json_response({"error": "You already created this dataset repo",
                                            "url": f"{self.url}/datasets/{rid}"}, status=409)
        self.repos[rid] = {"branches": {"main": {".gitattributes": b"*.parquet filter=lfs\n"}},
                           "private": body.get("visibility") == "private" or body.get("private", False)}
        return web.json_response({"url": f"{self.url}/datasets/{rid}", "name": rid})

    async def validate_yaml(self, request):
        return web.json_response({"errors": [], "warnings": []})

    async def preupload(self, request):
        repo = self._repo(request)
        if repo is None:
            return web.json_response({"error": "Repository not found"}, status=404)
        files = repo["branches"].get(request.match_info["rev"], {})
        out = []
        for f in (await request.json())["files"]:
            lfs = f["path"].endswith(LFS_SUFFIXES)
            have = files.get(f["path"])
            oid = None if have is None else (hashlib.sha256(have).hexdigest() if lfs else _blob(have))
            out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                        "oid": oid})
        return web.json_response({"files": out, "commitOid": "0" * 40})

    async def lfs_batch(self, request):
        body = await request.json()
        objects = []
        for o in body["objects"]:
            entry = {"oid": o["oid"], "size": o["size"]}
            if o["oid"] not in self.lfs:
                entry["actions"] = {"upload": {"href": f"{self.url}/lfs-upload/{o['oid']}", "header": {}}}
            objects.append(entry)
        return web.json_response({"transfer": "basic", "objects": objects})

    async def lfs_put(self, request):
        data = await request.read()
        if hashlib.sha256(data).hexdigest() != request.match_info["oid"]:
            return web.json_response({"error": "sha256 mismatch"}, status=400)
        self.lfs[request.match_info["oid"]] = data
        return web.Response(status=200)

    async def commit(self, request):
        repo = self._repo(request)
        rev = request.match_info["rev"]
        if repo is None:
            return web.json_response({"error": "Repository not found"}, status=404)
        files = dict(repo["branches"].setdefault(rev, {}))
        header, changed = {}, []
        for line in (await request.read()).decode().splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
                changed.append(value["path"])
            elif key == "lfsFile":
                if value["oid"] not in self.lfs:
                    return web.json_response({"error": f"LFS object {value['oid']} missing"}, status=422)
                files[value["path"]] = self.lfs[value["oid"]]
                changed.append(value["path"])
            elif key in ("deletedFile", "deletedFolder"):
                files.pop(value["path"], None)
                changed.append(value["path"])
        repo["branches"][rev] = files
        oid = hashlib.sha1(json.dumps(sorted(changed)).encode() + str(len(self.commits)).encode()).hexdigest()
        rid = f"{request.match_info['org']}/{request.match_info['name']}"
        self.commits.append({"repo": rid, "revision": rev, "summary": header.get("summary"), "files": changed,
                             "oid": oid})
        return web.json_response({"commitUrl": f"{self.url}/datasets/{rid}/commit/{oid}", "commitOid": oid,
                                        "pullRequestUrl": None})

    def _files(self, request) -> dict | None:
        repo = self._repo(request)
        if repo is None:
            return None
        rev = request.match_info["rev"]
        if rev in repo["branches"]:
            return repo["branches"][rev]
        return repo["branches"]["main"] if any(c["oid"] == rev for c in self.commits) else None

    @staticmethod
    def _entry(path: str, data: bytes) -> dict:
        entry = {"type": "file", "path": path, "size": len(data), "oid": _blob(data)}
        if path.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    async def tree(self, request):
        files = self._files(request)
        if files is None:
            return web.json_response({"error": "Repository or revision not found"}, status=404)
        prefix = request.match_info.get("path", "").strip("/")
        recursive = request.query.get("recursive") in ("true", "1", "True")
        out, dirs = [], set()
        for path, data in sorted(files.items()):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1:] if prefix else path
            if "/" in rest and not recursive:
                dirs.add((prefix + "/" if prefix else "") + rest.split("/")[0])
                continue
            if recursive:
                parts = path.split("/")[:-1]
                for k in range(len(prefix.split("/")) if prefix else 0, len(parts)):
                    dirs.add("/".join(parts[:k + 1]))
            out.append(self._entry(path, data))
        out += [{"type": "directory", "path": d, "oid": "0" * 40, "size": 0} for d in sorted(dirs)]
        return web.json_response(out)

    async def paths_info(self, request):
        files = self._files(request)
        if files is None:
            return web.json_response({"error": "Repository or revision not found"}, status=404)
        form = await request.post() if request.content_type != "application/json" else await request.json()
        paths = form.getall("paths") if hasattr(form, "getall") else form.get("paths", [])
        out = []
        for p in paths:
            if p in files:
                out.append(self._entry(p, files[p]))
            elif any(f.startswith(p.rstrip("/") + "/") for f in files):
                out.append({"type": "directory", "path": p, "oid": "0" * 40, "size": 0})
        return web.json_response(out)

    async def resolve(self, request):
        files = self._files(request)
        path = request.match_info["path"]
        if files is None or path not in files:
            return web.json_response({"error": "Entry not found"}, status=404,
                                           headers={"X-Error-Code": "EntryNotFound"})
        data = files[path]
        sha = self.commits[-1]["oid"] if self.commits else "0" * 40
        headers = {"ETag": f'"{_blob(data)}"', "X-Repo-Commit": sha, "Content-Length": str(len(data))}
        if path.endswith(LFS_SUFFIXES):
            headers.update({"X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Linked-Size": str(len(data))})
        if request.method == "HEAD":
            return web.Response(status=200, headers=headers)
        return web.Response(body=data, headers=headers)

    async def info(self, request):
        repo = self._repo(request)
        if repo is None:
            return web.json_response({"error": "Repository not found"}, status=404)
        rid = f"{request.match_info['org']}/{request.match_info['name']}"
        sha = self.commits[-1]["oid"] if self.commits else "0" * 40
        return web.json_response({"id": rid, "sha": sha, "private": repo["private"],
                                        "siblings": [{"rfilename": p} for p in repo["branches"]["main"]]})

    async def branch(self, request):
        repo = self._repo(request)
        branch = request.match_info["branch"]
        if branch in repo["branches"]:
            return web.json_response({"error": "Reference already exists"}, status=409)
        repo["branches"][branch] = dict(repo["branches"]["main"])
        return web.json_response({})
