"""The channel on descriptors of its own (SPEC section 1.1): POLYFORK_CHANNEL_FDS=r,w.

The host passes two pipes; the child must frame on them, leave descriptors 0 and 1 alone (the
host relays descriptor 1 as a log), hide the channel from the processes it starts, and refuse
to start, with one line, when the variable is bad.
"""
import json
import os

import pytest

from pfhost import HERE, Child

CHILD = os.path.join(HERE, "conformance_child.py")
PLACES = [(3, 4), "any"]


@pytest.mark.parametrize("unbuffered", [False, True])
@pytest.mark.parametrize("fds", PLACES, ids=["3,4", "as-created"])
def test_frames_on_the_descriptors_and_stdout_is_a_log(fds, unbuffered):
    with Child(CHILD, channel_fds=fds, unbuffered=unbuffered) as c:
        c.host_handlers["host_add"] = lambda a, b: a + b
        c.expect_ready()
        assert c.call("echo", [1, "two"]) == [1, "two"]
        # print, sys.stdout.write, os.write(1) and a subprocess: all on stdout, now a log.
        assert c.call("print", "stray text \u00e9") is True
        assert c.call("write_fd1", "raw bytes \u00e9\n") is True
        assert c.call("write_fd1", "no newline, ") is True
        assert c.call("call_host", "host_add", [2, 3]) == 5
        assert c.call("env", "POLYFORK_CHANNEL_FDS") is None  # removed from os.environ
        assert c.call("env", "POLYFORK_PROTOCOL") == "1"
        assert c.call("isatty") == [False, False, False]
        open_fds = c.call("fds")
        c.write([2, "message", ["m"]])
        assert c.next_msg() == [2, "message", ["m"]]
        c.close_stdin()  # end of file on r: $stop
        assert c.read_msg() is None
        assert c.wait() == 0
    assert c.stdout.count("stray text \u00e9\n") == 4, c.stdout
    assert "raw bytes \u00e9\n" in c.stdout and c.stdout.endswith("no newline, "), c.stdout
    assert "stray text" not in c.stderr
    if fds == (3, 4):
        assert {0, 1, 2, 3, 4} <= set(open_fds), open_fds


@pytest.mark.parametrize("fds", PLACES, ids=["3,4", "as-created"])
def test_processes_the_child_starts_inherit_neither_channel_nor_variable(fds):
    with Child("worker.py", "sync", channel_fds=fds) as c:
        c.expect_ready()
        seen_fds, seen_env = json.loads(c.call("subprocess_view"))
        assert seen_fds == [0, 1, 2], seen_fds
        assert seen_env == {}, seen_env
        c.close_stdin()
        assert c.wait() == 0


@pytest.mark.parametrize("value,words", [
    ("abc", "is not two descriptor numbers"),
    ("3", "is not two descriptor numbers"),
    ("3,4,5", "is not two descriptor numbers"),
    ("-1,4", "is not two descriptor numbers"),
    ("", "is not two descriptor numbers"),
    ("97,98", "descriptor 97 is not open"),
])
def test_a_bad_value_is_a_start_up_error_in_one_line(value, words):
    with Child("worker.py", "sync", env={"POLYFORK_CHANNEL_FDS": value}) as c:
        assert c.read_msg() is None  # nothing on stdout: no $ready, no traceback
        assert c.wait() != 0
        lines = c.stderr.splitlines()
        assert len(lines) == 1, c.stderr
        assert "POLYFORK_CHANNEL_FDS=%r" % value in lines[0] and words in lines[0], lines
