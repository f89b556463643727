"""Tasks for DeadlinePool tests (importable by worker processes)."""

import os
import time


def work(item):
    kind, value = item
    if kind == "sleep":
        time.sleep(value)
        return "slept"
    if kind == "raise":
        raise ValueError(value)
    if kind == "die":
        os._exit(value)
    if kind == "pid":
        return os.getpid()
    return value * 2
