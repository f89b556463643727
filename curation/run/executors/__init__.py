"""Executors: where the CPU-heavy, pure work of a run happens (``local``: this machine's process
pools; ``ray``: worker actors over a Ray cluster). The output never depends on which."""

from curation.run.executors.local import LocalExecutor, make_executor

__all__ = ["LocalExecutor", "make_executor"]
