"""`curate push` against a Hub-compatible endpoint on loopback: one commit holding every file,
no commit for identical content, retries after injected failures, token checked first; the
round trip through `datasets.load_dataset`; the card's header and numbers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.fake_hub import TOKEN, FakeHub

from curation import build_config, run_curation

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("curated") / "math"
    recipe = {"domain": "math", "source": {"path": "demo"}, "decontaminate": {"benchmarks": {"demo": "demo"}},
              "output": {"out_dir": str(out), "shard_rows": 5}}
    run_curation(build_config(recipe), quiet=True)
    return out


@pytest.fixture
def hub(monkeypatch):
    hub = FakeHub().start()
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # the loopback Hub speaks the LFS basic transfer only
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield hub
    hub.stop()


def push(hub, folder: Path, *args: str, token: str | None = TOKEN, repo: str = "org/math-set"
         ) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1",
           "HF_HOME": str(folder.parent / ".hf_home")}
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "curation.cli", "push", str(folder), "--repo", repo,
                           *args], capture_output=True, text=True, env=env, cwd=ROOT)


def folder_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def test_push_is_one_commit_with_every_file_and_an_identical_push_makes_none(hub, curated):
    r = push(hub, curated, "--message", "first")
    assert r.returncode == 0, r.stderr
    assert len(hub.commits) == 1 and hub.commits[0]["summary"] == "first"
    assert set(hub.commits[0]["files"]) == folder_files(curated)
    assert {"README.md", "report.json", "recipe.yaml"} <= set(hub.commits[0]["files"])
    stored = hub.repos["org/math-set"]["branches"]["main"]
    assert all(stored[p] == (curated / p).read_bytes() for p in folder_files(curated) if p != "README.md")
    assert b'load_dataset("org/math-set"' in stored["README.md"]  # the card points at the repo
    again = push(hub, curated)
    assert again.returncode == 0 and "nothing to commit" in again.stderr
    assert len(hub.commits) == 1


def test_a_failure_in_the_middle_is_retried_and_still_one_commit(hub, curated):
    hub.fail("/lfs-upload/", times=1, status=503)
    hub.fail("/commit/", times=1, status=502)
    r = push(hub, curated)
    assert r.returncode == 0, r.stderr
    assert len(hub.commits) == 1 and set(hub.commits[0]["files"]) == folder_files(curated)
    assert sum(1 for m, p in hub.calls if p.endswith("/commit/main")) >= 2  # it did have to retry


def test_missing_or_bad_token_fails_before_any_upload(hub, curated):
    r = push(hub, curated, token=None)
    assert r.returncode == 2 and r.stderr.strip().startswith("curate: error: no Hugging Face token")
    r = push(hub, curated, token="hf_wrong")
    assert r.returncode == 2 and "token was rejected (401)" in r.stderr and "Traceback" not in r.stderr
    assert not hub.commits and not hub.lfs and not [c for c in hub.calls if c[0] != "GET"]  # nothing written


def test_push_to_a_branch_and_private(hub, curated):
    r = push(hub, curated, "--revision", "v1", "--private")
    assert r.returncode == 0, r.stderr
    assert hub.repos["org/math-set"]["private"] and hub.commits[0]["revision"] == "v1"


def test_not_a_curated_folder_is_one_line(hub, tmp_path):
    r = push(hub, tmp_path)
    assert r.returncode == 2 and "not a curated folder" in r.stderr


def test_round_trip_load_dataset_counts_match_the_report(curated):
    import datasets

    report = json.loads((curated / "report.json").read_text())
    train = datasets.load_dataset(str(curated), split="train")
    rejected = datasets.load_dataset(str(curated), "rejected", split="train")
    assert len(train) == report["rows"]["train"] and len(rejected) == report["rows"]["rejected"]
    assert len(report["shards"]["train"]) > 1  # several shards (shard_rows 5), all listed in the card


def test_card_header_validates_and_funnel_numbers_equal_the_report(curated):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(curated / "README.md")
    header = card.data.to_dict()
    assert {c["config_name"] for c in header["configs"]} == {"default", "rejected"}
    for key in ("license", "language", "task_categories", "tags", "size_categories"):
        assert header.get(key), key
    report = json.loads((curated / "report.json").read_text())
    text = (curated / "README.md").read_text()
    funnel = text.split("## Funnel")[1].split("##")[0]
    rows = [line.split("|")[1:-1] for line in funnel.splitlines() if line.startswith("| ") and "stage" not in line]
    table = {r[0].strip(): [int(x.strip().replace(",", "")) for x in r[1:4]] for r in rows}
    for s in report["funnel"]:
        assert table[s["stage"]] == [s["rows_in"], s["kept"], s["rejected_total"]], s["stage"]
    for plot in (curated / "plots").glob("*.png"):
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 1000
    assert "@misc{" in text and "2503.04872" in text


def test_a_pushed_set_loads_from_the_hub_with_both_configs(hub, curated):
    assert push(hub, curated).returncode == 0
    script = ("import datasets, json, sys\n"
              "t = datasets.load_dataset('org/math-set', split='train')\n"
              "r = datasets.load_dataset('org/math-set', 'rejected', split='train')\n"
              "print(json.dumps([len(t), len(r), t.column_names]))\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN,
           "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(curated.parent / ".hf_home_load")}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=curated.parent)
    assert r.returncode == 0, r.stderr[-2000:]
    n_train, n_rejected, columns = json.loads(r.stdout.strip().splitlines()[-1])
    report = json.loads((curated / "report.json").read_text())
    assert (n_train, n_rejected) == (report["rows"]["train"], report["rows"]["rejected"])
    assert "messages" in columns
    assert any("/resolve/" in p and p.endswith(".parquet") for _, p in hub.calls)  # read from the Hub, not disk


def test_a_bare_repo_name_goes_to_the_token_owners_namespace(hub, curated):
    r = push(hub, curated, repo="math-set")
    assert r.returncode == 0, r.stderr
    assert set(hub.repos) == {f"{hub.user}/math-set"}  # whoami's name, as the Hub does
    stored = hub.repos[f"{hub.user}/math-set"]["branches"]["main"]
    assert f'load_dataset("{hub.user}/math-set"'.encode() in stored["README.md"]


def test_a_namespace_the_token_cannot_write_is_one_line(hub, curated):
    r = push(hub, curated, repo="someone-else/math-set")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "push to someone-else/math-set failed (403)" in r.stderr and not hub.commits
    for bad in ("a/b/c", "/math-set", "org/"):
        r = push(hub, curated, repo=bad)
        assert r.returncode == 2 and "expected NAME or ORG/NAME" in r.stderr, bad
