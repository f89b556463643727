"""Attacks on the limits and on what one run leaves for the next (issue 17), each checked from
the host side under the outer safety net of ``tests/test_sandbox_attacks.py``."""

# ruff: noqa: E501 - the scripts run in child processes are kept readable as one block each
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import sandbox_unavailable
from tests.test_sandbox_attacks import ROOT, contained, host_unchanged, stdin_case  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.skipif(sandbox_unavailable() is not None, reason=str(sandbox_unavailable())),
    pytest.mark.timeout(180),
]


def in_child(script: str, payload: dict | None = None) -> dict:
    """Run ``script`` (which prints one JSON line) in a child process under the outer caps."""
    cmd = ["timeout", "-s", "KILL", "120", "prlimit", "--as=8589934592", "--", sys.executable, "-c", script]
    out = subprocess.run(cmd, input=json.dumps(payload or {}), capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cgroups() -> bool:
    from verifiers.code.cgroups import tree_limits

    return tree_limits() is not None


# --- 1. memory exhaustion is classified from what the host sees ------------------------------------

def test_a_memory_bomb_that_hides_its_memory_error_is_mle():
    code = ("x = []\ntry:\n    while True:\n        x.append(bytearray(50 << 20))\nexcept MemoryError:\n"
            "    x = None\n    print('MemoryError caught, all fine')\n    raise SystemExit(1)\n")
    v = contained(code, stdin_case("x"))
    if not _cgroups():
        pytest.skip("no cgroups here: memory is classified from the rlimit's error only")
    assert v["reason"] == "MLE"


def test_a_memory_error_the_program_raises_itself_is_not_mle():
    v = contained("raise MemoryError\n", stdin_case("x"))
    if not _cgroups():
        pytest.skip("no cgroups here: a MemoryError is taken at its word")
    assert v["reason"] == "RE"


# --- 2. memory is bounded for the whole tree ------------------------------------------------------

_TREE = r'''
import json
from verifiers.code.sandbox import Limits, run
code = """import os, time
kids = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        b = bytearray(300 << 20)
        for j in range(0, len(b), 4096):
            b[j] = 1
        time.sleep(1)
        os._exit(0)
    kids.append(pid)
print(all(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) == 0 for p in kids))
"""
r = run(python=("solution.py",), files={"solution.py": code.encode()}, limits=Limits(wall_s=20, cpu_s=20, memory_mb=512))
print(json.dumps({"stdout": r.stdout.decode(), "exceeded": r.memory_exceeded, "peak_mb": r.peak_mb,
                  "isolation": r.isolation}))
'''


def test_six_children_cannot_hold_more_than_the_runs_memory():
    r = in_child(_TREE)
    if "cgroup" not in r["isolation"]:
        assert "tree<=" in r["isolation"]  # the fallback bound is recorded instead
        pytest.skip("no cgroups here")
    assert r["exceeded"] is True and r["stdout"].strip() == "False"
    if r["peak_mb"] is not None:  # the host's reading of the tree's peak (cgroup v1)
        assert r["peak_mb"] <= 512 + 1
    v = contained("import os, time\nfor i in range(6):\n    if os.fork() == 0:\n        b = bytearray(300 << 20)\n"
                  "        for j in range(0, len(b), 4096):\n            b[j] = 1\n        time.sleep(1)\n"
                  "        os._exit(0)\nfor i in range(6):\n    os.wait()\nprint('ok')\n", stdin_case("ok"), wall_s=20)
    assert v["reason"] == "MLE"


# --- 3. the isolation string lists only what the run got -----------------------------------------

_CLAIMS = r'''
import json, os, time
from verifiers.code import sandbox
from verifiers.code.sandbox import Limits, run
lim = Limits(wall_s=10, cpu_s=10, memory_mb=256, processes=32)
probe = "import time\nprint(open('/proc/loadavg').read().strip())\ntime.sleep(1.5)\n"
seen = []
for _ in range(2):
    box = sandbox.Sandbox(python=("solution.py",), files={"solution.py": probe.encode()}, limits=lim)
    box.proc.stdin.close()
    time.sleep(0.7)
    zygote = box._zygote
    tree = __import__("verifiers.code.zygote_client", fromlist=["_descendants"])._descendants(zygote.proc.pid)
    uid = sandbox.uid_base() + zygote._slot
    procs = {p: open(f"/proc/{p}/status").read() for p in tree}
    run_pids = [p for p in tree if p not in tree[:2]]
    info = {"uids": sorted({int(s.split("Uid:")[1].split()[0]) for s in procs.values()}), "slot_uid": uid,
            "zygote_net": os.readlink(f"/proc/{tree[1]}/ns/net"), "zygote_ipc": os.readlink(f"/proc/{tree[1]}/ns/ipc"),
            "host_net": os.readlink("/proc/self/ns/net"), "cgroup": open(f"/proc/{tree[1]}/cgroup").read(),
            "run_cgroup": [open(f"/proc/{p}/cgroup").read() for p in run_pids],
            "run_caps": [[l for l in open(f"/proc/{p}/status") if l.startswith("CapEff")][0].split()[1] for p in run_pids],
            "run_as": [[l for l in open(f"/proc/{p}/limits") if l.startswith("Max address space")][0] for p in run_pids],
            "limit": None}
    if zygote.cgroup is not None:
        d = zygote.cgroup.dirs.get("memory") or zygote.cgroup.dirs.get("unified")
        name = "memory.limit_in_bytes" if "memory" in zygote.cgroup.dirs else "memory.max"
        info["limit"] = int(open(os.path.join(d, name)).read()) - zygote.cgroup._base
    box.proc.wait(10)
    info["stdout"] = box.proc.stdout.read().decode()
    info["isolation"] = box.proc.isolation
    box.close()
    seen.append(info)
print(json.dumps(seen))
'''


def test_the_isolation_string_names_only_what_the_run_got():
    first, second = in_child(_CLAIMS)
    for info in (first, second):
        parts = info["isolation"].split("+")
        assert parts[:2] == ["bwrap", "uid"] and info["uids"] == [info["slot_uid"]]  # host: every process's uid
        assert set(parts) <= {"bwrap", "uid", "netns/run", "ipcns/run", "procmask", "rlimits"} | {
            p for p in parts if p.startswith(("cgroup1:", "cgroup2:", "tree<="))}
        if "netns/run" in parts:
            assert info["zygote_net"] != info["host_net"]
        if "procmask" in parts:
            assert info["stdout"].strip() == "0.00 0.00 0.00 1/1 1"
        if "rlimits" in parts:
            assert info["run_as"] and all(line.split()[3] != "unlimited" for line in info["run_as"])
        cgroup = [p for p in parts if p.startswith("cgroup")]
        if cgroup:
            assert "bm-sandbox" in info["cgroup"] and all("bm-sandbox" in c for c in info["run_cgroup"])
            assert info["limit"] == 256 << 20
        else:
            assert info["limit"] is None
        assert all(int(c, 16) == 0 for c in info["run_caps"])  # the zygote's CAP_SYS_ADMIN never reaches a run
    if "netns/run" in first["isolation"]:
        assert first["zygote_net"] != second["zygote_net"]
    if "ipcns/run" in first["isolation"]:
        assert first["zygote_ipc"] != second["zygote_ipc"]


# --- 4. nothing one run leaves is visible to the next ---------------------------------------------

_MQ_WRITE = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "q = libc.mq_open(b'/bm-attack', 0o100 | 0o2, 0o666, None)\n"  # O_CREAT | O_RDWR
             "print('made' if q >= 0 else 'failed', libc.mq_send(q, b'SECRET', 6, 0) == 0)\n")
_MQ_READ = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nq = libc.mq_open(b'/bm-attack', 0o2)\n"
            "buf = ctypes.create_string_buffer(8192)\n"
            "n = libc.mq_receive(q, buf, 8192, None) if q >= 0 else -1\nprint(buf.raw[:n].decode() if n > 0 else 'nothing')\n")

_SEQUENCE = r'''
import json, sys
from verifiers.code import judge, Limits
a = json.loads(sys.stdin.read())
lim = Limits(wall_s=5, cpu_s=5, memory_mb=256)
print(json.dumps([judge(code, {"inputs": [""], "outputs": [want]}, limits=lim).reason for code, want in a["runs"]]))
'''


def test_a_posix_message_queue_does_not_reach_the_next_run():
    r = in_child(_SEQUENCE, {"runs": [[_MQ_WRITE, "made True"], [_MQ_READ, "SECRET"]]})
    assert r == ["AC", "WA"]


def test_loopback_is_down_and_a_listener_does_not_reach_the_next_run():
    listen = ("import socket, os, time\ns = socket.socket()\ntry:\n    s.bind(('127.0.0.1', 4242))\n    s.listen()\n"
              "    print('listening')\nexcept OSError:\n    print('no loopback')\n")
    connect = ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', 4242), timeout=2)\n"
               "    print('reached')\nexcept OSError:\n    print('blocked')\n")
    both = ("import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\ntry:\n"
            "    socket.create_connection(s.getsockname(), timeout=2)\n    print('reached')\n"
            "except OSError:\n    print('blocked')\n")
    r = in_child(_SEQUENCE, {"runs": [[listen, "listening"], [connect, "reached"], [both, "reached"]]})
    assert r[1:] == ["WA", "WA"]  # not the previous run's listener, and not even its own: loopback is down


# --- 5. host information in /proc -------------------------------------------------------------------

def test_proc_shows_no_host_load_identity_or_memory():
    host = {"loadavg": Path("/proc/loadavg").read_text().split()[3].split("/")[1],  # the host's process count
            "boot_id": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
            "hostname": socket.gethostname(), "cmdline": Path("/proc/cmdline").read_text().strip()[:40]}
    code = ("import socket\nprint(open('/proc/loadavg').read().split()[3].split('/')[1],\n"
            "      open('/proc/sys/kernel/random/boot_id').read().strip(), socket.gethostname(),\n"
            "      open('/proc/cmdline').read().strip()[:40])\n")
    assert contained(code, stdin_case(" ".join(host.values())))["reason"] == "WA"
    fixed = "1 00000000-0000-0000-0000-000000000000 sandbox sandbox"
    assert contained(code, stdin_case(fixed))["reason"] == "AC"
    meminfo = Path("/proc/meminfo").read_text().splitlines()[0]
    assert contained("print(open('/proc/meminfo').readline().strip())\n", stdin_case(meminfo))["reason"] == "WA"


# --- 6. forging a pass on class Solution asserts ----------------------------------------------------

FORGER = '''import glob, json, os, sys
for path in glob.glob("/tmp/*.json"):
    n = len(json.load(open(path)))
    for i in range(n):
        os.write(1, (sys.argv[1] + json.dumps([i, "AC"]) + "\\n").encode())
    os._exit(0)
class Solution:
    def f(self, nums, k):
        return 0
'''


def test_the_forging_candidate_is_not_accepted():
    tests = {"test_list": ["assert Solution().f(nums=[1, 2], k=3) == 4", "assert Solution().f(nums=[5], k=1) == 6"]}
    v = contained(FORGER, tests)
    assert v["reason"] == "WA" and v["passed"] is False
    assert "asserts ran inside the sandbox" not in v["detail"]["message"]


# --- 7. the libraries LeetCode-style sets assume ------------------------------------------------------

def test_sortedcontainers_and_numpy_are_offered_and_recorded():
    from verifiers.code import isolation

    libs = isolation()["libraries"]
    if libs.get("sortedcontainers") is None or libs.get("numpy") is None:
        pytest.skip(f"install them with `make install` (python3-sortedcontainers, python3-numpy): {libs}")
    code = ("from sortedcontainers import SortedList\nimport numpy as np\n"
            "print(list(SortedList([3, 1, 2])), int(np.sum([1, 2])))\n")
    assert contained(code, stdin_case("[1, 2, 3] 3"))["reason"] == "AC"


def test_a_cgroup_left_behind_by_an_earlier_process_with_the_same_pid_does_not_block_a_new_one():
    """A cgroup whose removal timed out outlives its process; a later process that gets the same pid
    still creates its own (seen as a run without cgroup limits, and a changed isolation report)."""
    from verifiers.code import cgroups

    if not _cgroups():
        pytest.skip("no cgroups here")
    leftovers = [os.path.join(parent, f"bm-sandbox-{os.getpid()}-0")  # the name before the random part
                 for parent in cgroups._parents(cgroups.tree_limits()).values()]
    for path in leftovers:
        os.mkdir(path)
    try:
        made = cgroups.SandboxCgroup.create()
        assert made is not None and not set(made.dirs.values()) & set(leftovers)
        made.remove()
    finally:
        for path in leftovers:
            os.rmdir(path)
