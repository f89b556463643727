"""A scripted OpenAI-compatible server for dry runs, tests and benchmarks: answers, failures and
latencies from a script, no model (``python -m curation.dry_run.scripted_server``)."""

from curation.dry_run.scripted_server import Latency, Script, ServerProcess

__all__ = ["Latency", "Script", "ServerProcess"]
