"""Runs INSIDE the sandbox as its PID 1: ``python -I -S /sbx/zygote.py CTL_FD``.

A warm interpreter that forks one child per run, so a run costs a ``fork`` instead of a new
bubblewrap sandbox and a new interpreter. The trusted judge sends each run over the control
socket (``CTL_FD``): the files to place in ``/tmp``, the rlimits, what to run (a Python script
of ``/tmp`` in the forked interpreter, or an ``argv`` to ``execve``), and the run's
stdin/stdout/stderr pipes as file descriptors. The zygote answers ``{"pid"}`` once the child
exists and ``{"status"}`` once it is gone, and kills the run when the judge sends ``{"op":
"kill"}`` (deadline, output cap).

Why a run cannot reach the zygote or the next run:
- the zygote is PID 1 of the sandbox's PID namespace: signals from inside it (``kill(1)``,
  ``kill(-1)``) do not reach it, and every orphan is reparented to it;
- it is not dumpable (``PR_SET_DUMPABLE 0``) and every run drops all capabilities (the zygote keeps
  CAP_SYS_ADMIN of the sandbox's own user namespace, below), so no run can ``ptrace`` it or open its
  ``/proc/1/mem`` or ``/proc/1/fd``; children close the control socket before running anything;
- after each run it SIGKILLs every other process of the namespace (double-forked daemons
  included) and reaps them, empties ``/tmp`` and ``/dev/shm`` and removes System V IPC
  objects; ``/`` and ``/dev`` are read-only mounts. Anything it cannot restore marks it
  ``tainted`` and the judge replaces it;
- each child is a fresh fork of an interpreter that never ran untrusted code, with a new
  ``__main__`` module.
- each run gets new network and IPC namespaces (``unshare`` in the zygote just before the fork,
  with the CAP_SYS_ADMIN it holds in the sandbox's user namespace): no interface but a down
  loopback, and no System V object or POSIX message queue of an earlier run; the child then
  drops every capability before it runs anything (the zygote reports which namespaces it set up,
  and the judge records only those).
Runs in one zygote do share the interpreter's hash seed (random per zygote, read-only: it
carries nothing from one run to the next; a fresh one per run needs a fresh interpreter).

Protocol: frames of a 4-byte big-endian length + ``marshal`` data; a run's three descriptors
arrive with one marker byte (``R``) just before its frame. Standard library only.
"""

import builtins
import ctypes
import marshal
import os
import resource
import select
import signal
import socket
import sys
import types

# Modules many candidates import, loaded once here instead of once per run (not ``random``:
# forked children would share its seed).
PRELOAD = ("bisect", "collections", "functools", "heapq", "itertools", "math", "re", "string", "typing")
LIMITS = (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE,
          resource.RLIMIT_NOFILE, resource.RLIMIT_CORE)
PR_SET_DUMPABLE = 4
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
CLONE_NEWIPC, CLONE_NEWNET = 0x08000000, 0x40000000
IPC_RMID = 0
_libc = ctypes.CDLL(None, use_errno=True)


def _exit(code=None):
    raise SystemExit(code)


def _read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def receive(sock):
    head = _read_exact(sock, 4)
    body = None if head is None else _read_exact(sock, int.from_bytes(head, "big"))
    return None if body is None else marshal.loads(body)


def send(sock, obj):
    body = marshal.dumps(obj)
    sock.sendall(len(body).to_bytes(4, "big") + body)


def _wipe(top):
    """Remove everything under ``top`` (which the run may have made unreadable); True when empty."""
    stack = [top]
    dirs = []
    while stack:
        path = stack.pop()
        try:
            os.chmod(path, 0o700)
            entries = list(os.scandir(path))
        except OSError:
            continue
        dirs.append(path)
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            else:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
    for path in reversed(dirs[1:]):
        try:
            os.rmdir(path)
        except OSError:
            pass
    try:
        return not os.listdir(top)
    except OSError:
        return False


def _remove_sysv_ipc():
    for kind, call in (("shm", "shmctl"), ("sem", "semctl"), ("msg", "msgctl")):
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                ids = [int(line.split()[1]) for line in fh.readlines()[1:] if line.strip()]
        except (OSError, ValueError, IndexError):
            continue
        for ipc_id in ids:
            if call == "semctl":
                _libc.semctl(ipc_id, 0, IPC_RMID)
            else:
                _libc[call](ipc_id, IPC_RMID, None)


def _kill_all():
    """SIGKILL every other process of the namespace and reap them all (they are our children now)."""
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue


def _clean():
    """Back to the state before the run; False when something could not be restored."""
    _kill_all()
    clean = _wipe("/tmp") and _wipe("/dev/shm")
    _remove_sysv_ipc()
    return clean


def _place_files(files):
    for name, (content, mode) in files.items():
        fd = os.open("/tmp/" + name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, int(mode, 8))
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)


def _wait_run(ctl, pid):
    """Wait for the child, killing the run when the judge asks; its raw wait status."""
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            ready, _, _ = select.select([ctl, pidfd], [], [])
            if pidfd in ready:
                return os.waitpid(pid, 0)[1]
            message = receive(ctl)
            if message is None:  # the judge is gone
                _kill_all()
                os._exit(0)
            if message.get("op") == "kill":
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    finally:
        os.close(pidfd)


def _new_namespaces():
    """Fresh network and IPC namespaces for the next run; the names of those it got."""
    made = []
    for name, flag in (("net", CLONE_NEWNET), ("ipc", CLONE_NEWIPC)):
        if _libc.unshare(flag) == 0:
            made.append(name)
    return made


def _drop_capabilities():
    """No capability survives into a run (permitted, effective, inheritable, ambient)."""
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    if _libc.capset(header, data) != 0:
        os.write(2, b"sandbox: cannot drop capabilities\n")
        os._exit(126)


def _child(job, fds):
    """In the forked child: become the run (exec'd, or returned to the top level to run Python)."""
    os.setsid()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, 1 << 16)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _drop_capabilities()
    _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    try:  # the run, not the zygote, is what the kernel kills when the tree is out of memory
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass
    for res, value in zip(LIMITS, job["rlimits"], strict=True):
        hard = resource.getrlimit(res)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(res, (value, value))
    if job.get("argv"):
        argv = job["argv"]
        try:
            os.execvpe(argv[0], argv, os.environ)  # PATH from the sandbox's clean environment
        except OSError as exc:
            os.write(2, f"cannot run {argv[0]}: {exc}\n".encode())
        os._exit(127)
    return job


def serve(ctl):
    """The zygote's loop; returns only in a forked child, with the Python job it must run."""
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    send(ctl, {"ready": os.getpid()})
    while True:
        try:
            marker, fds, _, _ = socket.recv_fds(ctl, 1, 3)
        except OSError:
            os._exit(0)
        if not marker:
            os._exit(0)
        if marker != b"R":  # a kill that crossed the previous run's status: drop the frame
            for fd in fds:
                os.close(fd)
            rest = _read_exact(ctl, 3)
            if rest is None or _read_exact(ctl, int.from_bytes(marker + rest, "big")) is None:
                os._exit(0)
            continue
        job = receive(ctl)
        if job is None or len(fds) != 3:
            os._exit(0)
        try:
            _place_files(job["files"])
            namespaces = _new_namespaces()
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            send(ctl, {"error": f"{type(exc).__name__}: {exc}", "tainted": not _clean()})
            continue
        if pid == 0:
            ctl.close()
            return _child(job, fds)
        for fd in fds:
            os.close(fd)
        send(ctl, {"pid": pid, "namespaces": namespaces})
        status = _wait_run(ctl, pid)
        send(ctl, {"status": status, "tainted": not _clean()})


def main():
    sys.path.append("/usr/lib/python3/dist-packages")  # what -S leaves out (numpy)
    builtins.exit = builtins.quit = _exit
    for name in PRELOAD:
        __import__(name)
    os.chdir("/tmp")
    ctl = socket.socket(fileno=int(sys.argv[1]))
    os.closerange(3, ctl.fileno())
    os.closerange(ctl.fileno() + 1, 1 << 16)
    job = serve(ctl)
    return job["script"], job["args"]


_script, _args = main()
# From here on this is a forked child: the candidate's process. Run the script as __main__ in a
# fresh module; exceptions, SystemExit, atexit and stdout flushing behave as in ``python script``.
sys.argv = [_script, *_args]
_module = types.ModuleType("__main__")
_module.__file__ = "/tmp/" + _script
_module.__builtins__ = builtins
sys.modules["__main__"] = _module
with open(_script, encoding="utf-8", errors="replace") as _fh:
    _source = _fh.read()
exec(compile(_source, _script, "exec"), _module.__dict__)
