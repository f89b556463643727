"""Peak RSS of a command, measured so that the caller's own memory does not count.

Linux carries a process's peak RSS across ``exec``: a child forked from a parent holding 1.5 GB
(torch, a model) reports at least that much in ``ru_maxrss`` whatever it does after. So the command
is started by a lean Python (no imports beyond the standard library), whose child inherits only the
lean parent's few MB; ``os.wait4`` then gives the child's peak, or under torchrun the largest of the
launcher and the ranks it reaps.
"""

from __future__ import annotations

import json
import subprocess
import sys

_LEAN = ("import json, os, subprocess, sys\n"
         "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
         "err = p.stderr.read().decode(errors='replace')[-4000:]\n"
         "_, status, usage = os.wait4(p.pid, 0)\n"
         "code = os.waitstatus_to_exitcode(status)\n"
         "print(json.dumps({'status': code, 'maxrss_kib': usage.ru_maxrss, 'err': err}))\n")


def peak_rss(cmd: list[str], env: dict, cwd, timeout: float | None = None) -> tuple[int, float, str]:
    """``(exit code, peak RSS in bytes, the end of stderr)`` of ``cmd``."""
    out = subprocess.run([sys.executable, "-S", "-c", _LEAN, *cmd], env=env, cwd=cwd, capture_output=True, text=True,
                         timeout=timeout, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["status"], result["maxrss_kib"] * 1024.0, result["err"]
