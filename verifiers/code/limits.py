"""What one sandboxed run may use: wall and CPU time, memory, processes, files, output."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0  # per run
    cpu_s: int = 10
    memory_mb: int = 1024  # address space
    processes: int = 64  # processes + threads of one run
    file_mb: int = 16  # largest file it may write
    open_files: int = 64
    output_bytes: int = 4 << 20  # stdout and stderr, each
    tmp_mb: int = 64  # size of the private /tmp
    python: str = "/usr/bin/python3"
    # Call sessions (function-call and assert tests): False, one wall and CPU budget for the whole
    # session; True, as LiveCodeBench: wall_s for loading the program and again for each test call,
    # the CPU rlimit cpu_s x (tests + 1) over the session (a backstop: the wall deadlines decide).
    per_test: bool = False
