"""``curate push``: upload a curated folder to a Hugging Face dataset repo in one commit.

The token comes from the usual places (``--token``, ``HF_TOKEN``, the saved login) and is
checked with ``whoami`` before anything is uploaded; a repo given as a bare NAME goes to the
token owner's namespace (``whoami``'s name), as the Hub does. The remote tree is compared with the
folder first (sha256 of LFS files, git blob ids of the others): identical content makes no commit.
Otherwise every file goes into one ``create_commit`` (files gone from the folder are deleted in
the same commit), retried with backoff on 429/5xx/connection errors; a retry after a commit
that did land re-uploads nothing and commits nothing, because the Hub reports the files as
unchanged. Folders too big for one commit (over ``LARGE_FILES`` files or ``LARGE_BYTES``) go
through huggingface_hub's resumable ``upload_large_folder``, which commits in several steps.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

LARGE_FILES = 5000
LARGE_BYTES = 50 * 1024**3
RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class PushError(Exception):
    """One line for the user."""


@dataclass
class PushResult:
    repo_id: str
    revision: str
    committed: bool
    commit_url: str | None
    files: int
    attempts: int = 1


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def local_files(folder: Path, repo_id: str) -> dict[str, bytes | Path]:
    """path in repo -> content (the card with its load path pointed at the repo) or file path."""
    out: dict[str, bytes | Path] = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = p
    card = folder / "README.md"
    if card.exists():
        out["README.md"] = card_for_repo(card.read_text(), repo_id).encode()
    return out


def card_for_repo(card: str, repo_id: str) -> str:
    """The card with the local folder it names (``load_dataset("...")``, ``--data ...``) replaced by the
    repo id, however the folder was named when it was curated or is named now."""
    found = re.search(r'load_dataset\("([^"]+)", split="train"\)', card)
    if not found:
        return card
    local = found.group(1)
    return card.replace(f'load_dataset("{local}"', f'load_dataset("{repo_id}"').replace(f"--data {local}`",
                                                                                         f"--data {repo_id}`")


def _identity(content: bytes | Path) -> tuple[str, str]:
    data = content if isinstance(content, bytes) else content.read_bytes()
    return hashlib.sha256(data).hexdigest(), git_blob_id(data)


def _same_as_remote(files: dict[str, bytes | Path], remote: dict[str, tuple[str | None, str]]) -> bool:
    if set(remote) - {".gitattributes"} != set(files):
        return False
    for path, content in files.items():
        sha256, blob = _identity(content)
        lfs_sha, remote_blob = remote[path]
        if sha256 != lfs_sha and blob != remote_blob:
            return False
    return True


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise PushError(f"{folder}: not a folder")
    if not (folder / "README.md").exists() or not (folder / "data").is_dir():
        raise PushError(f"{folder}: not a curated folder (no README.md and data/; run `curate <domain> --out "
                        f"{folder}` first)")
    from huggingface_hub import DatasetCard

    try:
        card = DatasetCard.load(folder / "README.md")
    except Exception as exc:  # a hand-edited card that no longer parses
        raise PushError(f"{folder}/README.md: the card's YAML header does not parse ({exc})") from None
    if not card.data.to_dict().get("configs"):
        raise PushError(f"{folder}/README.md: the card's YAML header has no configs")


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _retryable(exc: Exception) -> bool:
    status = _status(exc)
    if status is not None:
        return status in RETRY_STATUS
    name = type(exc).__name__
    return isinstance(exc, (ConnectionError, TimeoutError, OSError)) or "Timeout" in name or "Connect" in name \
        or "RemoteProtocol" in name or "ReadError" in name


def push_folder(folder: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
                message: str | None = None, token: str | None = None, endpoint: str | None = None,
                retries: int = 5, backoff_s: float = 2.0, log=print) -> PushResult:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError

    folder = Path(folder)
    if repo_id.count("/") > 1 or not all(repo_id.split("/")):
        raise PushError(f"--repo: expected NAME or ORG/NAME, got {repo_id!r}")
    _check_folder(folder)
    token = token or get_token()
    if not token:
        raise PushError("no Hugging Face token: set HF_TOKEN, pass --token, or run `hf auth login`")
    api = HfApi(endpoint=endpoint, token=token)
    try:
        who = api.whoami()
    except HfHubHTTPError as exc:
        if _status(exc) in (401, 403):
            raise PushError(f"the Hugging Face token was rejected ({_status(exc)}): check HF_TOKEN or log in again") \
                from None
        raise PushError(f"cannot reach the Hub to check the token: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # no connection, bad endpoint URL
        raise PushError(f"cannot reach the Hub at {api.endpoint}: {type(exc).__name__}: {exc}"[:300]) from None
    if "/" not in repo_id:  # as the Hub does: a bare name is in the token owner's namespace
        repo_id = f"{who['name']}/{repo_id}"
    revision = revision or "main"
    files = local_files(folder, repo_id)
    total = sum(len(c) if isinstance(c, bytes) else c.stat().st_size for c in files.values())
    attempts = 0
    while True:
        attempts += 1
        try:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            if revision != "main":
                api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
            remote = {f.path: (f.lfs.sha256 if f.lfs else None, f.blob_id)
                      for f in api.list_repo_tree(repo_id, repo_type="dataset", revision=revision, recursive=True)
                      if hasattr(f, "blob_id")}
            if _same_as_remote(files, remote):
                log(f"push: {repo_id}@{revision} already holds identical content; nothing to commit")
                return PushResult(repo_id, revision, False, None, len(files), attempts)
            if len(files) > LARGE_FILES or total > LARGE_BYTES:
                log(f"push: {len(files)} files, {total / 1e9:.1f} GB: resumable large-folder upload (several commits)")
                api.upload_large_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset",
                                        revision=revision, private=private)
                return PushResult(repo_id, revision, True, None, len(files), attempts)
            ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=c if isinstance(c, bytes) else str(c))
                   for p, c in files.items()]
            ops += [CommitOperationDelete(path_in_repo=p) for p in remote if p not in files and p != ".gitattributes"]
            info = api.create_commit(repo_id, ops, repo_type="dataset", revision=revision,
                                     commit_message=message or f"Upload curated set ({len(files)} files) "
                                                               f"as {who.get('name', 'user')}")
            log(f"push: {len(files)} files -> {info.commit_url}")
            return PushResult(repo_id, revision, True, info.commit_url, len(files), attempts)
        except HfHubHTTPError as exc:
            if not _retryable(exc) or attempts > retries:
                raise PushError(f"push to {repo_id} failed ({_status(exc)}): {str(exc).splitlines()[0]}") from None
            log(f"push: attempt {attempts} failed ({_status(exc)}); retrying")
        except PushError:
            raise
        except Exception as exc:
            if not _retryable(exc) or attempts > retries:
                raise PushError(f"push to {repo_id} failed: {type(exc).__name__}: {exc}"[:300]) from None
            log(f"push: attempt {attempts} failed ({type(exc).__name__}); retrying")
        time.sleep(min(60.0, backoff_s * 2 ** (attempts - 1)))
