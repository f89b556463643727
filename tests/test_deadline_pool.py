import time

from verifiers.deadline_pool import TIMEOUT, DeadlinePool


def test_results_errors_crashes_and_timeouts_are_values():
    pool = DeadlinePool("tests.helpers.pool_tasks:work", 2)
    try:
        items = [("x", 1), ("sleep", 30), ("x", 2), ("raise", "boom"), ("die", 3), ("x", 3)]
        t0 = time.monotonic()
        out = pool.map(items, timeout_s=1.5, chunk_size=2)
        elapsed = time.monotonic() - t0
    finally:
        pool.close()
    assert out[0] == ("ok", 2)
    assert out[1] == TIMEOUT
    assert out[2] == ("ok", 4)
    assert out[3][0] == "error" and "boom" in out[3][1]
    assert out[4] == ("crash", None)
    assert out[5] == ("ok", 6)
    assert elapsed < 10


def test_killed_worker_is_replaced_and_gone():
    pool = DeadlinePool("tests.helpers.pool_tasks:work", 1)
    try:
        (tag, pid), = pool.map([("pid", 0)], timeout_s=5)
        assert pool.map([("sleep", 30)], timeout_s=0.5) == [TIMEOUT]
        assert pool.restarts == 1
        (tag, pid2), = pool.map([("pid", 0)], timeout_s=5)
        assert pid2 != pid
    finally:
        pool.close()
    import os

    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the timed-out worker must have been killed"
