"""Executors: where the CPU-heavy, pure work of a run happens. The output never depends on it.

- ``base``: the seam, ``Executor`` (``run_parts``, ``check``, ``signatures``, ``contamination``,
  ``start``/``close``, ``describe``);
- ``local``: in this process (the verifiers' own process pools and the sandbox pool use the
  machine's cores);
- ``ray``: worker actors spread over a Ray cluster's nodes, each with its own verifier processes and
  sandboxes (``ray_workers``: the actor and the pool that replaces a lost one when there is room);
- ``registry``: ``EXECUTORS`` (behind ``--executor``) and ``make_executor``.
"""

from curation.run.executors.base import Executor
from curation.run.executors.local import LocalExecutor
from curation.run.executors.ray import RayExecutor
from curation.run.executors.registry import EXECUTORS, make_executor

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "EXECUTORS", "make_executor"]
