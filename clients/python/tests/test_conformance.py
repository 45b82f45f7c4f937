"""The conformance child (SPEC section 9) driven method by method, plus the golden vectors
echoed through it byte for byte."""
import json
import os
import threading

import pytest

from pfhost import Child, HERE

CHILD = os.path.join(HERE, "conformance_child.py")
TESTDATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "protocol", "testdata"))


def load(name):
    with open(os.path.join(TESTDATA, name), encoding="utf-8") as f:
        return json.load(f)


def child(**kw):
    c = Child(CHILD, **kw)
    c.host_handlers["host_add"] = lambda a, b: a + b
    c.expect_ready()
    return c


def test_methods():
    with child() as c:
        assert c.call("echo", [1, "two", None]) == [1, "two", None]
        assert c.call("add", 2, 40) == 42
        assert c.call("add", "a", "b") == "ab"
        assert c.call("pid") == c.proc.pid
        assert c.call("sleep", 1) == "slept"
        assert c.call("call_host", "host_add", [5, 6]) == 11
        c.request(1, "fail", "on purpose")
        err, result = c.response(1)
        assert err["type"] == "ConformanceError" and err["message"] == "on purpose"
        assert "ConformanceError: on purpose" in err["traceback"]
        c.write([2, "message", [{"x": [1, 2]}]])
        assert c.next_msg() == [2, "message", [{"x": [1, 2]}]]
        assert c.call("stderr", "to the log") is True
        # SPEC 9's newer methods, with the channel on stdin/stdout: 0 is /dev/null, 1 is
        # stderr, both moved there by the library.
        assert c.call("isatty") == [False, False, False]
        assert c.call("write_fd1", "straight to fd 1 \u00e9\n") is True
        assert c.call("env", "POLYFORK_PROTOCOL") == "1"
        assert c.call("env", "NO_SUCH_VARIABLE_HERE") is None
        assert {0, 1, 2} <= set(c.call("fds"))
        assert c.call("listeners") == []
        c.close_stdin()
        assert c.read_msg() is None
        assert c.wait() == 0
        assert "to the log\n" in c.stderr
        assert "straight to fd 1 \u00e9\n" in c.stderr


@pytest.mark.parametrize("unbuffered", [False, True])
def test_print_stays_off_the_channel(unbuffered):
    with child(unbuffered=unbuffered) as c:
        assert c.call("print", "stray text \u00e9") is True
        assert c.call("echo", "after") == "after"
        c.close_stdin()
        assert c.read_msg() is None
        assert c.wait() == 0
        assert c.stderr.count("stray text \u00e9\n") == 4  # print, write, os.write, subprocess


def test_exit():
    with child() as c:
        c.request(1, "exit", 7)
        assert c.read_msg() is None
        assert c.wait() == 7


def test_many_in_flight():
    with child() as c:
        for i in range(50):
            c.request(i, "sleep", 50 - i)  # later requests finish first
        for i in range(50, 100):
            c.request(i, "echo", i)
        for i in range(100):
            assert c.response(i) == (None, "slept" if i < 50 else i)
        c.close_stdin()
        assert c.wait() == 0


def test_value_vectors_echo_byte_for_byte():
    """Each golden value goes through echo: the result bytes must equal the params bytes."""
    vectors = load("values.json")
    with child() as c:
        sent = {}
        frames = []
        for i, v in enumerate(vectors):
            raw = bytes.fromhex(v["hex"])
            body = b"\x94\x00" + bytes([i]) + b"\xa4echo\x91" + raw
            frames.append(len(body).to_bytes(4, "big") + body)
            sent[i] = (v, raw)
        # Written from a thread: the replies fill the child's stdout pipe meanwhile.
        writer = threading.Thread(target=c.write_raw, args=(b"".join(frames),))
        writer.start()
        for _ in vectors:
            body = c.read_frame()
            assert body[:2] == b"\x94\x01" and body[3] == 0xC0
            v, raw = sent[body[2]]
            result = body[4:]
            if "float32" in v["features"]:
                assert result[:1] == b"\xcb", v["name"]  # float32 comes back as a float64
            else:
                assert result == raw, v["name"]
        writer.join()
        c.close_stdin()
        assert c.wait() == 0


@pytest.mark.parametrize("vec", load("invalid.json"), ids=lambda v: v["name"])
def test_invalid_frames_end_the_child_with_a_clear_error(vec):
    with child() as c:
        assert c.call("echo", 1) == 1
        c.write_raw(bytes.fromhex(vec["hex"]))
        c.close_stdin()
        assert c.read_msg() is None
        assert c.wait() == 1
        lines = c.stderr.splitlines()
        assert len(lines) == 1 and "polyfork: protocol error" in lines[0], c.stderr


@pytest.mark.parametrize("unbuffered", [False, True])
def test_example_compute(unbuffered):
    path = os.path.normpath(os.path.join(HERE, "..", "examples", "compute.py"))
    with Child(path, unbuffered=unbuffered) as c:
        c.expect_ready()
        c.write([2, "message", ["start"]])
        assert c.next_msg() == [2, "message", [4999950000]]
        assert c.call("get_sum") == 4999950000
        c.close_stdin()
        assert c.read_msg() is None
        assert c.wait() == 0
