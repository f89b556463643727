"""Checking a model reference (local folder or Hub id) before loading anything heavy."""

from __future__ import annotations

from pathlib import Path


def model_ref_problem(model: str, what: str = "model") -> str | None:
    """One line when ``model`` is neither an existing folder nor shaped like a Hub id (ORG/NAME)."""
    if Path(model).expanduser().exists():
        return None
    if model.startswith((".", "/", "~")) or model.count("/") != 1:
        return f"{what}: {model} is neither a folder nor a Hub model id (ORG/NAME)"
    return None
