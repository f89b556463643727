"""The bubblewrap command line: the namespaces and the filesystem a sandbox is built from.

``sandbox.py`` states what this layout protects against; change the two together.
"""

from __future__ import annotations


def _bwrap_argv(tmp_mb: int, zygote_fd: int) -> list[str]:
    size = str(tmp_mb << 20)
    return ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--as-pid-1", "--cap-drop", "ALL", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
            "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
            "--proc", "/proc", "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
            "--size", size, "--tmpfs", "/tmp", "--file", str(zygote_fd), "/sbx/zygote.py",
            "--remount-ro", "/", "--chdir", "/tmp"]
