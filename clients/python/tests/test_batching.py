"""Answers to requests that arrive together leave together, in order, and never wait long.

Under load the child reads many frames at once; the answers of its plain handlers are then
kept and written in one system call once those frames are handled (clients/python/README.md,
"Performance"). These tests pin what must not change with it: the order of frames, a lone
request answered without being kept, and a slow handler not holding the answers before it.
"""
import os

import pytest

from pfhost import Child, frame

MODES = ["sync", "async"]


def batch_child(mode):
    c = Child("batch.py", mode)
    c.host_handlers["host_add"] = lambda a, b: a + b
    c.expect_ready()
    return c


@pytest.mark.parametrize("mode", MODES)
def test_answers_to_one_read_keep_the_order_of_the_requests(mode):
    with batch_child(mode) as c:
        frames, expected = [], []
        for i in range(300):
            if i % 7 == 3:  # a listener that sends: its frame goes between the answers
                frames.append(frame([2, "message", ["m%d" % i]]))
                expected.append([2, "message", ["m%d" % i]])
            else:
                frames.append(frame([0, i, "echo", ["v%d" % i]]))
                expected.append([1, i, None, "v%d" % i])
        c.write_raw(b"".join(frames))
        got = [c.read_msg() for _ in expected]
        assert got == expected
        c.close_stdin()
        assert c.wait() == 0


@pytest.mark.parametrize("mode", MODES)
def test_a_lone_request_is_answered_at_once_not_kept(mode):
    with batch_child(mode) as c:
        for i in range(50):
            assert c.call("echo", i) == i
        # Nothing was ever kept, so the watchdog that bounds how long kept answers wait was
        # never started; after a batch it is.
        assert "polyfork-flush" not in c.call("threads")
        c.write_raw(frame([0, 1, "echo", [1]]) + frame([0, 2, "threads", []]))
        assert c.response(1) == (None, 1)
        err, names = c.response(2)
        assert err is None and "polyfork-flush" in names
        c.close_stdin()
        assert c.wait() == 0


@pytest.mark.parametrize("mode", MODES)
def test_a_blocked_handler_does_not_hold_the_answers_before_it(mode, tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    with batch_child(mode) as c:
        c.write_raw(frame([0, 1, "echo", ["before"]]) + frame([0, 2, "read_fifo", [fifo]])
                    + frame([0, 3, "echo", ["after"]]))
        # read_fifo blocks until we write to the FIFO, so the answer to 1 (kept to be written
        # with the others) must reach us while it blocks.
        assert c.read_msg() == [1, 1, None, "before"]
        with open(fifo, "w") as f:
            f.write("unblocked")
        assert c.read_msg() == [1, 2, None, "unblocked"]
        assert c.read_msg() == [1, 3, None, "after"]
        c.close_stdin()
        assert c.wait() == 0


@pytest.mark.parametrize("mode", MODES)
def test_kept_answers_go_out_before_a_call_to_the_host(mode):
    with batch_child(mode) as c:
        c.write_raw(frame([0, 1, "echo", ["first"]]) + frame([0, 2, "sum_host", [2, 3]])
                    + frame([0, 3, "echo", ["last"]]))
        assert c.read_msg() == [1, 1, None, "first"]
        req = c.read_msg()
        assert req[0] == 0 and req[2:] == ["host_add", [2, 3]]
        c.write([1, req[1], None, 5])
        # While sum_host waits for the host it serves what arrived meanwhile (README, "call"),
        # so 3 may be answered before 2.
        assert sorted([c.read_msg(), c.read_msg()]) == [[1, 2, None, 5], [1, 3, None, "last"]]
        c.close_stdin()
        assert c.wait() == 0


def test_kept_answers_go_out_when_a_handler_exits_the_process():
    with batch_child("sync") as c:
        c.write_raw(b"".join(frame([0, i, "echo", [i]]) for i in range(5))
                    + frame([0, 9, "exit", [3]]))
        assert [c.read_msg() for _ in range(5)] == [[1, i, None, i] for i in range(5)]
        assert c.read_msg() is None
        assert c.wait() == 3
