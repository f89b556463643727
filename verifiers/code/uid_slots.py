"""The per-process block of host uids that sandboxes run as, one uid per concurrent slot."""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading

# Each process that runs sandboxes holds one block of 256 host uids (one uid per concurrent
# slot) by an exclusive lock on a file, so two curations on one machine never share a uid
# (and with it the process-count limit, or the right to signal each other's processes).
UID_BASE, UID_BLOCK, UID_BLOCKS = 61000, 256, 64
LOCK_DIR = os.path.join(tempfile.gettempdir(), "branch-merge-sandbox-uids")
_slots = threading.Semaphore(UID_BLOCK)
_slot_lock = threading.Lock()
_free_slots: list[int] = list(range(UID_BLOCK))
_block: dict = {}


def _block_lock_path(block: int) -> str:
    return os.path.join(LOCK_DIR, f"{block}.lock")


def uid_block_in_use(uid: int) -> bool:
    """Whether a live process holds the uid block of ``uid`` (for leak checks)."""
    block = (uid - UID_BASE) // UID_BLOCK
    if not 0 <= block < UID_BLOCKS or not os.path.exists(_block_lock_path(block)):
        return False
    if _block.get("index") == block:
        return True
    fd = os.open(_block_lock_path(block), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def uid_base() -> int:
    with _slot_lock:
        if _block.get("pid") != os.getpid():  # first use, or a forked child: take a block of our own
            _block.clear()
            os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
            for block in range(UID_BLOCKS):
                fd = os.open(_block_lock_path(block), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                _block.update(base=UID_BASE + block * UID_BLOCK, index=block, fd=fd, pid=os.getpid())  # held until exit
                break
            else:
                raise RuntimeError(f"all {UID_BLOCKS} sandbox uid blocks are in use")
        return _block["base"]


def acquire_slot() -> int:
    _slots.acquire()
    with _slot_lock:
        return _free_slots.pop()


def release_slot(slot: int) -> None:
    with _slot_lock:
        _free_slots.append(slot)
    _slots.release()
