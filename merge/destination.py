"""Where a merge writes, and what it may replace: never anything it did not make.

``merge --out DIR`` writes into a new or empty folder, or (with ``--overwrite``) into a folder an
earlier ``merge`` made, which it recognises by the marker file it leaves there first thing. A
non-empty folder without the marker (a curated set, a trained expert, anything of the user's) is
refused with one line, as is an output that is one of the merge's inputs, holds one or sits
inside one. The intermediate steps' folder ``DIR.steps`` follows the same rule and is removed
after the last step only because it carries the marker.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

MARKER = ".branch-merge-output"


def destination_problems(out: Path, inputs: dict[str, Path], overwrite: bool) -> list[str]:
    """Why ``merge`` may not write to ``out`` (and ``out.steps``), one line each."""
    problems = []
    for name, path in inputs.items():
        if out == path or path in out.parents or out in path.parents:
            rel = "is" if out == path else "is inside" if path in out.parents else "holds"
            problems.append(f"out: {out} {rel} the input {name} ({path}); choose another --out")
    for folder in (out, Path(f"{out}.steps")):
        if folder.exists() and not folder.is_dir():
            problems.append(f"out: {folder} is a file")
        elif folder.is_dir() and any(folder.iterdir()):
            if not (folder / MARKER).exists():
                problems.append(f"out: {folder} is not empty and was not made by merge; choose a new or empty --out "
                                "(nothing there is deleted)")
            elif not overwrite:
                problems.append(f"out: {folder} holds an earlier merge; --overwrite replaces it")
    return problems


def claim(folder: Path, what: dict) -> None:
    """Make ``folder`` ours: emptied if it holds our earlier output, then marked."""
    if (folder / MARKER).exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(json.dumps({**what, "started": time.time()}))


def release(folder: Path) -> None:
    """Remove a folder of ours (the intermediate steps); a folder without the marker is left alone."""
    if (folder / MARKER).exists():
        shutil.rmtree(folder)
