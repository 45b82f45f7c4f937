"""Big messages do not make the child fault its memory back in for every call (_malloc.py).

Measured with page-fault counts (getrusage), not time: with glibc's default thresholds,
freeing and reallocating the buffers of a 1 MiB message costs hundreds of faults per message.
"""
import os

import pytest

from pfhost import Child

glibc = pytest.mark.skipif(not os.confstr("CS_GNU_LIBC_VERSION"), reason="glibc only")


def memory_child(**kw):
    c = Child("memory.py", **kw)
    c.expect_ready()
    return c


@glibc
def test_after_a_big_frame_big_buffers_are_reused_without_faults():
    with memory_child() as c:
        # Small frames only: glibc's defaults are left alone (and the measure can fail).
        assert c.call("echo", "small") == "small"
        assert c.call("faults_per_cycle") > 100
        big = "x" * (1 << 20)
        assert c.call("echo", big) == big
        assert c.call("faults_per_cycle") < 10
        c.close_stdin()
        assert c.wait() == 0


@glibc
@pytest.mark.parametrize("env", [
    {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"},
    {"MALLOC_MMAP_THRESHOLD_": "131072"},
])
def test_thresholds_the_user_chose_are_kept(env):
    with memory_child(env=env) as c:
        big = "x" * (1 << 20)
        assert c.call("echo", big) == big
        assert c.call("faults_per_cycle") > 100
        c.close_stdin()
        assert c.wait() == 0


def test_a_frame_full_of_empty_arrays_is_refused_before_it_is_decoded():
    # 16 MiB of `90` (an empty array) would decode to 16 million lists, over a gigabyte in
    # CPython. The count in the array's header is enough to refuse the frame (SPEC section 3:
    # at most 4194304 values per frame), so the child exits with a protocol error having
    # allocated little more than the frame itself. A bound on memory, not a timing.
    n = 16 << 20
    body = b"\x93\x02\xa7message\x91\xdd" + n.to_bytes(4, "big") + b"\x90" * n
    with Child("worker.py", "sync") as c:
        c.expect_ready()
        c.write_raw(len(body).to_bytes(4, "big") + body)
        assert c.read_msg() is None
        code, usage = c.wait_rusage()
        assert code == 1
        assert "more than 4194304 values in one frame" in c.stderr
        assert usage.ru_maxrss * 1024 < 256 << 20, usage.ru_maxrss  # ru_maxrss is in KiB
