"""User code that forks inside a worker (docs/faults.md, "user code in a child")."""
import os
import signal
import time

import pytest

from pfhost import Child, HostError, GUARD

MODES = ["sync", "async"]
COPY_LINE = "is a fork of the worker"


def _wait_for_stderr(c, text):
    deadline = time.monotonic() + GUARD
    while text not in c.stderr:
        if time.monotonic() > deadline:
            raise HostError("no %r on stderr: %r" % (text, c.stderr))
        time.sleep(0.01)


def _all_until_eof(c):
    msgs = []
    while True:
        m = c.read_msg()
        if m is None:
            return msgs
        msgs.append(m)


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("mode", MODES)
def test_a_forked_copy_that_returns_from_its_handler_neither_answers_nor_serves(mode, unbuffered):
    # The copy used to answer the request a second time ("from-copy") and then read requests
    # from the channel as a second worker, so the host got answers from a pid it never
    # started and the worker never saw those requests.
    with Child("forks.py", mode, unbuffered=unbuffered) as c:
        worker = c.expect_ready()["pid"]
        c.request(1, "forget_exit")
        _wait_for_stderr(c, COPY_LINE)
        c.write([2, "forget_exit_in_listener", []])
        _wait_for_stderr(c, COPY_LINE + " (pid %d) and came back" % worker)
        for i in range(2, 22):
            c.request(i, "pid")
        c.close_stdin()
        msgs = _all_until_eof(c)
        assert c.wait() == 0, c.stderr
    assert msgs == [[1, 1, None, "from-worker"]] + [[1, i, None, worker] for i in range(2, 22)], c.stderr
    assert c.stderr.count(COPY_LINE) == 2, c.stderr


@pytest.mark.parametrize("hold_the_lock", [False, True], ids=["idle", "lock-held"])
@pytest.mark.parametrize("mode", MODES)
def test_a_forked_copy_cannot_send_notify_or_call(mode, hold_the_lock):
    # The copy's frames went to the host's channel (and, when another thread of the worker
    # held the writer's lock at the fork, the copy hung for ever on that lock).
    with Child("forks.py", mode) as c:
        worker = c.expect_ready()["pid"]
        c.request(1, "copy_uses_the_channel", hold_the_lock)
        msgs = []
        while True:
            m = c.read_msg()
            assert m is not None, c.stderr
            msgs.append(m)
            if m[0] == 1:
                break
        c.close_stdin()
        msgs += _all_until_eof(c)
        assert c.wait() == 0, c.stderr
    assert msgs[-1][:3] == [1, 1, None], msgs
    lines = msgs[-1][3].split("\n")
    assert [ln.split(":")[0] for ln in lines] == ["send", "notify", "call"], lines
    for ln in lines:
        assert "is a fork of the polyfork worker (pid %d)" % worker in ln, lines
    expected = [[2, "message", ["slow"]]] if hold_the_lock else []
    assert msgs[:-1] == expected, msgs


def test_a_forked_copy_does_not_keep_the_channel_open():
    # A background job forked off (and ended with os._exit) held the channel's descriptors:
    # the host saw no end of the channel when the worker exited, until the job ended.
    with Child("forks.py", "sync") as c:
        c.expect_ready()
        copy = c.call("background_copy")
        try:
            c.close_stdin()
            assert c.read_msg() is None  # the worker exited: end of file, the copy runs on
            assert c.proc.wait(GUARD) == 0, c.stderr  # (the copy keeps stderr, its log)
            os.kill(copy, 0)  # still there
        finally:
            try:
                os.kill(copy, signal.SIGKILL)
            except ProcessLookupError:
                pass
