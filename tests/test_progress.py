"""Progress in a log file as well as a terminal (issue 27): plain `done/total` lines with rate and ETA
every N seconds when stderr is not a terminal, while the command runs, for `curate` and `evaluate`."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from curation.dry_run.scripted_server import ServerProcess
from curation.progress import RunProgress

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}


def test_plain_lines_every_n_seconds_when_not_a_terminal():
    out = io.StringIO()
    with RunProgress(Console(file=out, width=200), every=0.1, name="job") as progress:
        task = progress.add_task("items", total=40, completed=10)  # 10 found done: not part of the rate
        other = progress.add_task("load", total=None)
        for _ in range(6):
            time.sleep(0.1)
            progress.update(task, advance=5, status="working")
            progress.update(other, advance=1)
        time.sleep(0.15)
    lines = out.getvalue().splitlines()
    items = [line for line in lines if line.startswith("job: items ")]
    assert len(items) >= 3, lines
    assert re.fullmatch(r"job: items \d+/40 \(\d+%\) \| [\d.]+/s \| ETA \d+s \| \d+s elapsed \| working", items[1])
    assert items[-1].startswith("job: items 40/40 (100%) | ") and "ETA" not in items[-1]  # the line at the end
    assert any(re.match(r"job: load \d+ \| ", line) for line in lines)  # no total known: a count
    task = progress.tasks[task]  # the rate and ETA of a resumed task count only this run's work
    task.started, task.completed = 1000.0, 25
    assert task.line(now=1010.0) == "items 25/40 (62%) | 1.50/s | ETA 10s | 10s elapsed | working"


def test_bars_on_a_terminal_and_nothing_when_quiet():
    out = io.StringIO()
    with RunProgress(Console(file=out, force_terminal=True, width=100), every=0.05) as progress:
        task = progress.add_task("items", total=3)
        for _ in range(3):
            time.sleep(0.06)
            progress.update(task, advance=1)
    assert "curate: items" not in out.getvalue() and "━" in out.getvalue()  # rich's bar, no plain line
    quiet = io.StringIO()
    with RunProgress(Console(file=quiet), every=0.05, quiet=True) as progress:
        progress.update(progress.add_task("items", total=1), advance=1)
        time.sleep(0.1)
    assert quiet.getvalue() == ""


def _lines_while_running(proc: subprocess.Popen, log: Path, pattern: str) -> list[str]:
    """The progress lines in ``log`` seen before ``proc`` ended."""
    seen: list[str] = []
    while proc.poll() is None:
        seen = [line for line in log.read_text().splitlines() if re.search(pattern, line)]
        time.sleep(0.05)
    return seen


def test_a_live_curation_writing_to_a_file_shows_progress_while_it_runs(tmp_path):
    script = {"rules": [{"match": f"q{i}:", "answers": [f"<think>\nadd {{seed}}\n</think>\n\\boxed{{{i + 1}}}"]}
                        for i in range(30)]}
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps({"problem": f"q{i}: what is {i} + 1?", "answer": str(i + 1)}) + "\n"
                           for i in range(30)))
    log = tmp_path / "curate.log"
    with ServerProcess(script, latency_ms=60) as srv, open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "curation.cli", "math", "--source", str(src), "--teacher",
                                 "openai", "--base-url", srv.base_url, "--concurrency", "2", "--no-decontaminate",
                                 "--out", str(tmp_path / "out"), "--progress-every", "0.2"],
                                stdout=subprocess.DEVNULL, stderr=err, env=ENV, cwd=tmp_path)
        during = _lines_while_running(proc, log, r"^curate: teacher: problems settled \d+/30 ")
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert len(during) >= 2, log.read_text()
    assert any(re.search(r"\d+/30 \(\d+%\) \| [\d.]+/s \| ETA \d+s", line) for line in during)
    text = log.read_text()
    assert "curate: teacher: problems settled 30/30 (100%)" in text and "curate: publish 4/4 (100%)" in text
    assert "━" not in text  # no bar drawn into the file


def test_evaluate_writes_generation_and_grading_progress_to_a_file(tmp_path, shared_data):
    log = tmp_path / "evaluate.log"
    with ServerProcess(latency_ms=80) as srv, open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "evaluation.cli", "--model", "any-name", "--backend", "openai",
                                 "--base-url", srv.base_url, "--benchmarks", "aime24", "--samples", "2", "--limit",
                                 "15", "--concurrency", "2", "--benchmark-file",
                                 f"aime24={shared_data / 'math/aime24.jsonl'}", "--field", "problem=prompt",
                                 "--out", str(tmp_path / "eval"), "--progress-every", "0.2"],
                                stdout=subprocess.DEVNULL, stderr=err, env=ENV, cwd=ROOT)
        during = _lines_while_running(proc, log, r"^evaluate: aime24 generate \d+/30 ")
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert len(during) >= 2, log.read_text()
    text = log.read_text()
    assert "evaluate: aime24 generate 30/30 (100%)" in text and "evaluate: aime24 grade 30/30 (100%)" in text
