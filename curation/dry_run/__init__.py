"""A scripted OpenAI-compatible server for dry runs, tests and benchmarks: answers, failures and
latencies from a script, no model (``python -m curation.dry_run.scripted_server``)."""

import importlib

__all__ = ["Latency", "Script", "ServerProcess"]


def __getattr__(name: str):
    # imported on first use (PEP 562), so `python -m curation.dry_run.scripted_server` does not find
    # its own module already imported by the package (runpy's RuntimeWarning)
    if name in __all__:
        return getattr(importlib.import_module("curation.dry_run.scripted_server"), name)
    raise AttributeError(f"module 'curation.dry_run' has no attribute {name!r}")
