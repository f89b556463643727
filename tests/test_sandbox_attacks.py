"""One adversarial test per property the sandbox claims (see verifiers/code/sandbox.py).

Every attack runs through ``judge`` in a child process under an outer safety net (``timeout``
and ``prlimit`` on memory and processes), so a regression fails the test instead of harming
the machine. Each check is made from the host side: a secret the candidate would print if it
could read it is the *expected output* (so reading it would turn into AC), host files and
processes are inspected after the run, host servers count connections.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import sandbox_unavailable
from verifiers.code.sandbox import UID_BASE, UID_BLOCK, UID_BLOCKS, uid_block_in_use

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.skipif(sandbox_unavailable() is not None, reason=str(sandbox_unavailable())),
    pytest.mark.timeout(180),
]
SANDBOX_UIDS = range(UID_BASE, UID_BASE + UID_BLOCK * UID_BLOCKS)


def contained(code: str, tests, *, language: str = "python", wall_s: float = 5.0, cpu_s: int = 5,
              memory_mb: int = 512, output_bytes: int = 1 << 20) -> dict:
    """Judge in a child process under an outer time, memory and process cap; the verdict as a dict."""
    script = (
        "import json, sys\n"
        "from verifiers.code import judge, Limits\n"
        "a = json.loads(sys.stdin.read())\n"
        "v = judge(a['code'], a['tests'], language=a['language'], limits=Limits(wall_s=a['wall_s'], "
        "cpu_s=a['cpu_s'], memory_mb=a['memory_mb'], output_bytes=a['output_bytes']))\n"
        "print(json.dumps(v.to_dict()))\n")
    payload = json.dumps({"code": code, "tests": tests, "language": language, "wall_s": wall_s, "cpu_s": cpu_s,
                          "memory_mb": memory_mb, "output_bytes": output_bytes})
    cmd = ["timeout", "-s", "KILL", "120", "prlimit", "--as=8589934592", "--", sys.executable, "-c", script]
    out = subprocess.run(cmd, input=payload, capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, f"the judge itself failed or was killed: {out.stderr[-2000:]}"
    verdict = json.loads(out.stdout.strip().splitlines()[-1])
    verdict["detail"] = json.loads(verdict["detail"]) if verdict["detail"].startswith("{") else verdict["detail"]
    return verdict


def sandbox_processes() -> list[int]:
    """Sandboxed processes whose judge is gone (another live judge's sandboxes are not leaks)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid = entry.stat().st_uid
            except FileNotFoundError:
                continue
            if uid in SANDBOX_UIDS and not uid_block_in_use(uid):
                pids.append(int(entry.name))
    return pids


def _site_files() -> dict:
    return {p: p.lstat().st_mtime_ns for p in Path("/usr/lib").glob("python3*/**/sitecustomize.py")}


@pytest.fixture(autouse=True)
def host_unchanged():
    before = set(Path("/tmp").iterdir())
    site_before = _site_files()
    yield
    deadline = time.monotonic() + 5
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox_processes() == [], "a sandboxed process outlived its run"
    assert _site_files() == site_before, "a sitecustomize.py was planted or changed on the host"
    new = {p for p in set(Path("/tmp").iterdir()) - before if p.name.startswith("bm-attack")}
    assert not new, f"files appeared on the host: {new}"


def stdin_case(expected: str) -> dict:
    return {"inputs": [""], "outputs": [expected]}


# --- resource exhaustion ---------------------------------------------------------------------

def test_fork_bomb():
    v = contained("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
                  stdin_case("x"))
    assert v["reason"] in ("TLE", "RE")


def test_memory_bomb():
    v = contained("x = []\nwhile True:\n    x.append(bytearray(50 << 20))\n", stdin_case("x"))
    assert v["reason"] == "MLE"


def test_cpu_loop():
    v = contained("while True:\n    pass\n", stdin_case("x"), cpu_s=2)
    assert v["reason"] == "TLE"


def test_sleep_past_the_deadline():
    t0 = time.monotonic()
    v = contained("import time\ntime.sleep(60)\n", stdin_case("x"), wall_s=2)
    assert v["reason"] == "TLE" and time.monotonic() - t0 < 30


def test_sigterm_ignored():
    v = contained("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n",
                  stdin_case("x"), wall_s=2)
    assert v["reason"] == "TLE"


def test_two_gib_of_stdout():
    t0 = time.monotonic()
    v = contained("import sys\nblock = 'x' * (1 << 20)\nfor _ in range(2048):\n    sys.stdout.write(block)\n",
                  stdin_case("x"), wall_s=20)
    assert v["reason"] == "OLE" and time.monotonic() - t0 < 60


def test_thread_bomb():
    v = contained("import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()\n",
                  stdin_case("x"), wall_s=5)
    assert v["reason"] in ("RE", "TLE")


def test_filling_tmp_and_the_work_dir():
    code = ("import os\nn = 0\ntry:\n    while True:\n        with open(f'/tmp/f{n}', 'wb') as fh:\n"
            "            fh.write(b'x' * (8 << 20))\n        n += 1\n"
            "except OSError as e:\n    print('full', e.errno)\n")
    v = contained(code, stdin_case("never"), wall_s=10)
    assert v["reason"] == "WA"  # it ran into the size cap and printed 'full', not the expected output


# --- files, environment, secrets ---------------------------------------------------------------

def test_writes_outside_the_work_dir():
    marker = f"bm-attack-{secrets.token_hex(4)}"
    code = ("import os\nok = []\n"
            f"for path in ['/usr/lib/python3/dist-packages/sitecustomize.py', '/usr/lib/python3.11/sitecustomize.py',"
            f" '/{marker}', '/etc/{marker}', '/bin/{marker}', '/proc/{marker}']:\n"
            "    try:\n        open(path, 'w').write('print(1)')\n        ok.append(path)\n    except OSError:\n"
            "        pass\nprint('wrote', ok)\n")
    v = contained(code, stdin_case("wrote []"))
    assert v["reason"] == "AC"  # every write failed, as the program reports ...
    assert not Path(f"/{marker}").exists() and not Path(f"/etc/{marker}").exists()  # ... and the host confirms


def test_planted_sitecustomize_does_not_reach_the_next_run():
    plant = "open('/tmp/sitecustomize.py', 'w').write('print(\"pwned\")')\nprint('planted')\n"
    assert contained(plant, stdin_case("planted"))["reason"] == "AC"
    assert contained("print('clean')\n", stdin_case("clean"))["reason"] == "AC"


def test_reading_etc_shadow():
    shadow = Path("/etc/shadow")
    if not shadow.is_file():
        pytest.skip("no /etc/shadow on this host")
    expected = shadow.read_text().splitlines()[0]
    v = contained("print(open('/etc/shadow').readline().strip())\n", stdin_case(expected))
    assert v["reason"] == "RE"


def test_reading_the_parents_environment(monkeypatch):
    token = secrets.token_hex(8)
    monkeypatch.setenv("BM_SECRET", token)
    code = ("import os, glob\nfound = os.environ.get('BM_SECRET', '')\nfor p in glob.glob('/proc/*/environ'):\n"
            "    try:\n        data = open(p, 'rb').read()\n    except OSError:\n        continue\n"
            "    for item in data.split(b'\\0'):\n        if item.startswith(b'BM_SECRET='):\n"
            "            found = item.split(b'=', 1)[1].decode()\nprint(found)\n")
    v = contained(code, stdin_case(token))
    assert v["reason"] == "WA"


def test_reading_the_expected_outputs_or_test_files():
    token = secrets.token_hex(12)
    code = ("import os\nhits = []\nfor top in ['/tmp', '/usr/local', '/etc', '/bin', '/lib']:\n"
            "    for d, _, files in os.walk(top):\n"
            "        for f in files:\n            try:\n"
            "                data = open(os.path.join(d, f), 'rb').read(1 << 16)\n"
            "            except OSError:\n                continue\n"
            f"            if b'{token[:6]}' in data:\n                hits.append(data)\n"
            "print(hits[0].decode(errors='replace') if hits else 'nothing')\n")
    v = contained(code, {"inputs": [""], "outputs": [token]}, wall_s=20, cpu_s=20)
    assert v["reason"] == "WA"


# --- network -----------------------------------------------------------------------------------

def _server(sock: socket.socket, banner: bytes, hits: list) -> None:
    sock.settimeout(10)
    try:
        conn, _ = sock.accept()
        hits.append(1)
        conn.sendall(banner)
        conn.close()
    except OSError:
        pass


def test_tcp_to_loopback():
    banner = secrets.token_hex(8)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    hits: list = []
    threading.Thread(target=_server, args=(srv, banner.encode(), hits), daemon=True).start()
    port = srv.getsockname()[1]
    code = (f"import socket\ntry:\n    s = socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
            "    print(s.recv(100).decode())\nexcept OSError as e:\n    print('blocked', e)\n")
    v = contained(code, stdin_case(banner))
    srv.close()
    assert v["reason"] == "WA" and hits == []


def test_tcp_to_an_external_address():
    code = ("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=3)\n    print('connected')\n"
            "except OSError:\n    print('blocked')\n")
    assert contained(code, stdin_case("connected"))["reason"] == "WA"


def test_dns():
    code = ("import socket\ntry:\n    socket.getaddrinfo('example.com', 80)\n    print('resolved')\n"
            "except OSError:\n    print('blocked')\n")
    assert contained(code, stdin_case("resolved"))["reason"] == "WA"


def test_abstract_unix_socket():
    name = f"\0bm-attack-{secrets.token_hex(4)}"
    banner = secrets.token_hex(8)
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(name)
    srv.listen(1)
    hits: list = []
    threading.Thread(target=_server, args=(srv, banner.encode(), hits), daemon=True).start()
    code = (f"import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect({name!r})\n"
            "    print(s.recv(100).decode())\nexcept OSError:\n    print('blocked')\n")
    v = contained(code, stdin_case(banner))
    srv.close()
    assert v["reason"] == "WA" and hits == []


# --- processes -----------------------------------------------------------------------------------

def test_killing_the_parent_and_kill_minus_one():
    canary = subprocess.Popen(["sleep", "60"])
    try:
        v = contained("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\n"
                      "print('still here')\n", stdin_case("x"))
        assert v["reason"] in ("RE", "WA")
        assert canary.poll() is None, "kill(-1) reached a host process"
    finally:
        canary.kill()


def test_double_forked_daemon_does_not_outlive_the_run():
    code = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(120)\n"
            "    os._exit(0)\nprint('parent done')\n")
    v = contained(code, stdin_case("parent done"))
    assert v["reason"] == "AC"  # the host_unchanged fixture checks that no sandboxed process is left


def test_segfault_is_a_runtime_error_with_its_signal():
    v = contained("import ctypes\nctypes.string_at(0)\n", stdin_case("x"))
    assert v["reason"] == "RE" and "signal 11" in v["detail"]["message"]


def test_remounting_root_read_write():
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "rc = libc.mount(b'none', b'/', None, 32 | 4096, None)\n"  # MS_REMOUNT | MS_BIND
            "print('remounted' if rc == 0 else 'denied')\n")
    assert contained(code, stdin_case("remounted"))["reason"] == "WA"


# --- cheating the judge ----------------------------------------------------------------------------

HE_TESTS = {"test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(10, -4) == 6\n",
            "entry_point": "add"}


def test_os_exit_before_the_tests():
    v = contained("import os\nos._exit(0)\ndef add(a, b):\n    return a + b\n", HE_TESTS)
    assert v["reason"] == "RE"


def test_always_equal_object():
    code = "class Eq:\n    def __eq__(self, other):\n        return True\n\ndef add(a, b):\n    return Eq()\n"
    assert contained(code, HE_TESTS)["reason"] == "WA"


def test_excepthook_tricks():
    code = ("import sys\nsys.excepthook = lambda *a: print('AC')\nimport builtins\n"
            "builtins.AssertionError = type('NotAssert', (Exception,), {})\ndef add(a, b):\n    return 0\n")
    assert contained(code, HE_TESTS)["reason"] == "WA"


def test_walking_stack_frames_into_the_judge():
    code = ("import sys, gc\ndef add(a, b):\n    f = sys._getframe()\n    while f is not None:\n"
            "        for v in list(f.f_locals.values()):\n            if isinstance(v, int) and v not in (a, b):\n"
            "                return v\n        f = f.f_back\n    for o in gc.get_objects():\n"
            "        if isinstance(o, tuple) and len(o) == 2 and o == (a, b):\n            continue\n    return -1\n")
    assert contained(code, HE_TESTS)["reason"] == "WA"


def test_overwriting_a_checker():
    code = ("import builtins\nbuiltins.check = lambda candidate: None\ndef check(candidate):\n    return None\n"
            "def add(a, b):\n    return 0\n")
    assert contained(code, HE_TESTS)["reason"] == "WA"


def test_forging_a_verdict_on_the_parents_stdout():
    code = ("import os, json\nos.write(1, b'AC\\n')\nfor n in range(5):\n"
            "    os.write(1, (json.dumps({'ok': 5}) + '\\n').encode())\n"
            "os.write(2, b'{\"reason\": \"AC\", \"passed\": true}\\n')\ndef add(a, b):\n    return 0\n")
    assert contained(code, HE_TESTS)["reason"] == "WA"
    assert contained("print('AC')\nprint('passed')\n", stdin_case("5"))["reason"] == "WA"


def test_host_unchanged_after_a_normal_run():
    v = contained("def add(a, b):\n    return a + b\n", HE_TESTS)
    assert v["reason"] == "AC" and v["detail"]["isolation"].startswith("bwrap")


# --- one run against the next: runs share a warm sandbox (the zygote) -----------------------------

_SEQUENCE = r'''
import json, os, sys, threading, time
from verifiers.code import judge, Limits
from verifiers.code.judge import judge_once
from verifiers.code import sandbox

def uid_procs(uid):
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.stat("/proc/" + p).st_uid == uid:
                    pids.append(int(p))
            except FileNotFoundError:
                pass
    return sorted(pids)

a = json.loads(sys.stdin.read())
lim = Limits(wall_s=5, cpu_s=5, memory_mb=512)
out = {}
out["first"] = judge("print('hi')\n", {"inputs": [""], "outputs": ["hi"]}, limits=lim).reason
(zygote,) = sandbox.thread_zygotes.idle.values()
uid = sandbox.uid_base() + zygote._slot
out["before"] = uid_procs(uid)
out["attack"] = judge(a["attack"], {"inputs": [""], "outputs": [a["attack_expected"]]}, limits=lim).reason
time.sleep(0.5)
out["after"] = uid_procs(uid)
out["same_zygote"] = list(sandbox.thread_zygotes.idle.values()) == [zygote]
v = judge(a["observe"], {"inputs": [""], "outputs": [a["observe_expected"]]}, limits=lim)
out["observe"] = v.reason if v.reason == "AC" else v.detail
box = sandbox.Sandbox(python=("solution.py",), files={"solution.py": b"print(2)"}, limits=lim)
box.proc.stdin.close()
box.proc.wait(5)
box.proc.zygote.send({"op": "kill"})  # a kill that crosses the run's end must not upset the zygote
box.close()
out["late_kill"] = [judge("print('hi')\n", {"inputs": [""], "outputs": ["hi"]}, limits=lim).reason,
                    list(sandbox.thread_zygotes.idle.values()) == [zygote]]
os.kill(zygote.proc.pid, 9)  # the sandbox dies between runs: the next run gets a fresh one
time.sleep(0.2)
out["after_kill"] = judge("print('hi')\n", {"inputs": [""], "outputs": ["hi"]}, limits=lim).reason
(zygote,) = sandbox.thread_zygotes.idle.values()
threading.Timer(0.5, os.kill, (zygote.proc.pid, 9)).start()  # ... or during a run: SE, never WA
v = judge_once("import time\ntime.sleep(3)\nprint('hi')\n", {"inputs": [""], "outputs": ["hi"]}, limits=lim)
out["died_during_run"] = [v.reason, v.passed]
print(json.dumps(out))
'''

_ATTACK = r'''
import ctypes, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
open("/tmp/planted.py", "w").write("print('pwned')")
open("/dev/shm/planted", "w").write("x")
os.makedirs("/tmp/locked/deeper")
open("/tmp/locked/deeper/f", "w").write("x")
os.chmod("/tmp/locked", 0)
libc.shmget(4242, 4096, 0o1000 | 0o666)  # IPC_CREAT
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(120)
    os._exit(0)
report = []
os.kill(1, signal.SIGKILL)
time.sleep(0.1)
report.append("zygote-alive" if os.path.exists("/proc/1/status") else "zygote-dead")
report.append("ptrace-ok" if libc.ptrace(16, 1, None, None) == 0 else "ptrace-denied")  # PTRACE_ATTACH
for path in ("/proc/1/mem", "/proc/1/fd"):
    try:
        open(path, "rb").close() if path.endswith("mem") else os.listdir(path)
        report.append(path + "-open")
    except OSError:
        report.append(path + "-denied")
print(" ".join(report))
'''

_OBSERVE = r'''
import os
procs = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
ipc = sum(len(open(f"/proc/sysvipc/{k}").readlines()) - 1 for k in ("shm", "sem", "msg"))
print(sorted(os.listdir("/tmp")), os.listdir("/dev/shm"), len(procs), 1 in procs, ipc)
'''


def test_a_run_cannot_reach_the_zygote_or_the_next_run():
    payload = json.dumps({
        "attack": _ATTACK,
        "attack_expected": "zygote-alive ptrace-denied /proc/1/mem-denied /proc/1/fd-denied",
        "observe": _OBSERVE, "observe_expected": "['solution.py'] [] 2 True 0"})
    cmd = ["timeout", "-s", "KILL", "120", "prlimit", "--as=8589934592", "--", sys.executable, "-c", _SEQUENCE]
    out = subprocess.run(cmd, input=payload, capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["first"] == "AC"
    assert r["attack"] == "AC", "the candidate reached the zygote (ptrace, its memory or fds, or killed it)"
    # host side: the daemon is gone, the same two processes (bubblewrap and the zygote) remain
    assert len(r["before"]) == 2 and r["after"] == r["before"] and r["same_zygote"]
    # the next run sees a clean /tmp, /dev/shm, no leftover process or IPC object
    assert r["observe"] == "AC"
    assert r["late_kill"] == ["AC", True]
    assert r["after_kill"] == "AC"
    assert r["died_during_run"] == ["SE", None]


_CAPABILITIES = r'''
def caps(pid):
    fields = dict(line.split(":\t") for line in open(f"/proc/{pid}/status").read().splitlines() if ":\t" in line)
    return [int(fields[k], 16) for k in ("CapPrm", "CapEff", "CapInh", "CapAmb")]
print("run", caps("self"), "zygote", caps(1))
'''


def test_capabilities_of_a_run_and_of_the_zygote():
    """What verifiers/code/zygote.py says: a run holds no capability (permitted, effective, inheritable,
    ambient); the zygote (PID 1 of the sandbox) holds CAP_SYS_ADMIN (bit 21) of the sandbox's own user
    namespace and nothing else."""
    sys_admin = 1 << 21
    v = contained(_CAPABILITIES, stdin_case(f"run [0, 0, 0, 0] zygote {[sys_admin] * 4}"))
    assert v["reason"] == "AC", v
