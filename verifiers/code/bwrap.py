"""The bubblewrap command line: the namespaces and the filesystem a sandbox is built from.

``sandbox.py`` states what this layout protects against; change the two together.
"""

from __future__ import annotations

import os
from functools import lru_cache

HOSTNAME = "sandbox"


@lru_cache(maxsize=1)
def proc_masks() -> dict[str, bytes]:
    """Fixed contents bound over the ``/proc`` files that would show the host's activity or
    identity (load, memory, CPU counters, pressure, boot id, kernel command line). ``/proc/stat``
    keeps one line per CPU (all zero) because glibc counts CPUs from it."""
    cpus = os.cpu_count() or 1
    stat = "cpu  0 0 0 0 0 0 0 0 0 0\n" + "".join(f"cpu{i} 0 0 0 0 0 0 0 0 0 0\n" for i in range(cpus))
    stat += "intr 0\nctxt 0\nbtime 0\nprocesses 0\nprocs_running 1\nprocs_blocked 0\nsoftirq 0\n"
    meminfo = "".join(f"{k}: {v:>16} kB\n" for k, v in (
        ("MemTotal", 1 << 22), ("MemFree", 1 << 22), ("MemAvailable", 1 << 22), ("Buffers", 0), ("Cached", 0),
        ("SwapTotal", 0), ("SwapFree", 0)))
    pressure = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    masks = {"/proc/loadavg": "0.00 0.00 0.00 1/1 1\n", "/proc/meminfo": meminfo, "/proc/stat": stat,
             "/proc/cmdline": "sandbox\n", "/proc/uptime": "0.00 0.00\n", "/proc/vmstat": "", "/proc/diskstats": "",
             "/proc/interrupts": "", "/proc/softirqs": "", "/proc/schedstat": "", "/proc/zoneinfo": "",
             "/proc/sys/kernel/random/boot_id": "00000000-0000-0000-0000-000000000000\n",
             "/proc/pressure/cpu": pressure, "/proc/pressure/memory": pressure, "/proc/pressure/io": pressure}
    return {path: text.encode() for path, text in masks.items() if os.path.exists(path)}


def bwrap_argv(tmp_mb: int, zygote_fd: int, mask_fds: dict[str, int]) -> list[str]:
    """``mask_fds``: for each path of ``proc_masks()``, a descriptor holding its contents.

    The zygote keeps CAP_SYS_ADMIN inside the sandbox's own user namespace only to give each run
    new network and IPC namespaces; every run drops all capabilities before it starts."""
    size = str(tmp_mb << 20)
    masks = [arg for path, fd in mask_fds.items() for arg in ("--ro-bind-data", str(fd), path)]
    return ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--as-pid-1", "--cap-drop", "ALL", "--cap-add", "CAP_SYS_ADMIN", "--hostname", HOSTNAME,
            "--clearenv", "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
            "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
            "--proc", "/proc", *masks, "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
            "--size", size, "--tmpfs", "/tmp", "--file", str(zygote_fd), "/sbx/zygote.py",
            "--remount-ro", "/", "--chdir", "/tmp"]
