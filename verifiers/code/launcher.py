"""Runs INSIDE the sandbox as ``python -I -S launcher.py AS CPU NPROC FSIZE NOFILE SCRIPT [ARGS]``.

Sets the hard rlimits (which the program cannot raise again), gives back what ``-S`` leaves
out (``exit``/``quit`` and the system dist-packages, for numpy), then runs SCRIPT as
``__main__``. Skipping ``site``, ``runpy`` and a separate ``prlimit`` process saves about 25 ms
per run.
Standard library only.
"""

import builtins
import resource
import sys


def main():
    limits = [int(x) for x in sys.argv[1:6]]
    for res, value in zip((resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE,
                           resource.RLIMIT_NOFILE), limits, strict=True):
        resource.setrlimit(res, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.path.append("/usr/lib/python3/dist-packages")

    def _exit(code=None):
        raise SystemExit(code)

    builtins.exit = builtins.quit = _exit
    target = sys.argv[6]
    sys.argv = sys.argv[6:]
    with open(target, encoding="utf-8", errors="replace") as fh:
        source = fh.read()
    # compile + exec rather than runpy: runpy pulls in pkgutil, typing and re (about 15 ms)
    code = compile(source, target, "exec")
    exec(code, {"__name__": "__main__", "__file__": "/tmp/" + target, "__builtins__": builtins})


main()
