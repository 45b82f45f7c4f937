"""Real child processes using the library, driven by the test host in pfhost.py."""
import os
import subprocess
import time

import pytest

from pfhost import Child, frame

MODES = ["sync", "async"]


def raw_frame(body_hex):
    body = bytes.fromhex(body_hex)
    return len(body).to_bytes(4, "big") + body


def host_add(a, b):
    return a + b


def host_fail(what):
    raise KeyError("host failed on " + what)


def worker(mode, **kw):
    c = Child("worker.py", mode, **kw)
    c.host_handlers.update(host_add=host_add, host_fail=host_fail)
    c.expect_ready()
    return c


@pytest.mark.parametrize("unbuffered", [False, True])
def test_ready_is_the_first_frame(unbuffered):
    with Child("worker.py", "sync", unbuffered=unbuffered) as c:
        ready = c.expect_ready()
        assert ready == {"protocol": 1, "lang": "python", "pid": c.proc.pid,
                         "lib": "polyfork-python/0.2.0"}
        c.close_stdin()
        assert c.read_msg() is None
        assert c.wait() == 0


@pytest.mark.parametrize("mode", MODES)
def test_send_and_on_message(mode):
    with worker(mode) as c:
        c.write([2, "message", ["start"]])
        assert c.next_msg() == [2, "message", [{"got": "start"}]]
        c.write([2, "note", [1, "two"]])
        assert c.next_msg() == [2, "message", [["note", 1, "two"]]]
        c.write([2, "raise", []])  # a listener that raises is logged, the child goes on
        c.write([2, "nobody_listens", [1]])
        c.write([2, "$future_reserved", [1]])
        assert c.call("echo", "still here") == "still here"
        c.close_stdin()
        assert c.wait() == 0
        assert "listener failed on purpose" in c.stderr


@pytest.mark.parametrize("mode", MODES)
def test_calls_in_both_directions(mode):
    with worker(mode) as c:
        assert c.call("echo", {"a": [1, 2.5, None, b"\x00"]}) == {"a": [1, 2.5, None, b"\x00"]}
        assert c.call("sum_host", 2, 3) == 5  # plain handler: call() blocks and pumps
        if mode == "async":
            assert c.call("asum_host", 4, 5) == 9  # async handler: await call()
            assert c.call("executor_sum", 6, 7) == 13  # from a thread while the loop runs
        c.request(1, "thread_sum", 10, 11)
        assert c.response(1) == (None, "started")
        assert c.wait_for(lambda m: m[:2] == [2, "thread_result"]) == [2, "thread_result", [21]]
        c.close_stdin()
        assert c.wait() == 0


def test_sync_mode_switches_to_asyncio_when_an_async_handler_is_needed():
    with worker("sync") as c:
        assert c.call("is_async_mode") is False
        assert c.call("enable_async") is True
        assert c.call("aecho", "x") == "x"
        assert c.call("is_async_mode") is True
        assert c.call("sum_host", 1, 1) == 2
        assert c.call("asum_host", 2, 2) == 4
        c.write([2, "anote", [5]])
        assert c.next_msg() == [2, "message", [["anote", 5]]]
        c.close_stdin()
        assert c.wait() == 0


def test_switch_keeps_the_order_of_messages_in_one_read():
    with worker("sync") as c:
        assert c.call("enable_async") is True
        # Sent in one write: the async request triggers the switch in the middle of the batch.
        c.write_raw(b"".join([
            frame([0, 1, "echo", ["a"]]),
            frame([0, 2, "aecho", ["b"]]),
            frame([0, 3, "echo", ["c"]]),
            frame([2, "message", ["d"]]),
        ]))
        assert c.response(1) == (None, "a")
        assert c.response(2) == (None, "b")
        assert c.response(3) == (None, "c")
        assert c.next_msg() == [2, "message", [{"got": "d"}]]
        c.close_stdin()
        assert c.wait() == 0


def test_many_calls_in_flight_answered_out_of_order():
    with worker("async") as c:
        for i, name in enumerate(["a", "b", "c"]):
            c.request(10 + i, "gate", name)
        # 300 echoes written at once, while the three gates wait.
        c.write_raw(b"".join(frame([0, 100 + i, "aecho" if i % 2 else "echo", [i]])
                             for i in range(300)))
        for i in range(300):
            assert c.response(100 + i) == (None, i)
        c.request(20, "open", "c")
        assert c.response(12) == (None, "opened c")
        assert c.response(20) == (None, True)
        c.request(21, "open", "a")
        assert c.response(10) == (None, "opened a")
        c.request(22, "open", "b")
        assert c.response(11) == (None, "opened b")
        c.close_stdin()
        assert c.wait() == 0


def test_cancel_reaches_an_async_handler():
    with worker("async") as c:
        c.request(7, "started_sleep", 3_600_000)
        assert c.wait_for(lambda m: m[:2] == [2, "started"]) == [2, "started", [3_600_000]]
        c.write([2, "$cancel", [7]])
        assert c.wait_for(lambda m: m[:2] == [2, "cancelled"]) == [2, "cancelled", [3_600_000]]
        err, result = c.response(7)
        assert err["type"] == "CancelledError" and result is None
        assert "started_sleep" in err["message"]
        c.write([2, "$cancel", [7]])  # no longer in flight: ignored
        c.write([2, "$cancel", [12345]])  # never was: ignored
        assert c.call("echo", 1) == 1
        c.close_stdin()
        assert c.wait() == 0


def test_cancel_sent_right_after_the_request_still_reaches_the_handler():
    with Child(os.path.join(os.path.dirname(__file__), "conformance_child.py")) as c:
        c.expect_ready()
        c.request(3, "sleep", 3_600_000)
        c.write([2, "$cancel", [3]])
        assert c.next_msg() == [2, "cancelled", [3_600_000]]
        err, _ = c.response(3)
        assert err["type"] == "CancelledError"
        c.close_stdin()
        assert c.wait() == 0


def test_cancelling_an_awaited_call_sends_cancel_to_the_host():
    with worker("async") as c:
        c.request(6, "call_with_timeout")
        req = c.wait_for(lambda m: m[0] == 0 and m[2] == "slow_host")
        assert c.wait_for(lambda m: m[:2] == [2, "$cancel"]) == [2, "$cancel", [req[1]]]
        assert c.response(6) == (None, "timed out")
        c.write([1, req[1], None, "too late"])  # an answer for a cancelled id is dropped
        assert c.call("echo", 3) == 3
        c.close_stdin()
        assert c.wait() == 0


def test_a_handler_that_swallows_cancel_sends_its_result():
    with worker("async") as c:
        c.request(8, "swallow_cancel")
        c.wait_for(lambda m: m[:2] == [2, "started"])
        c.write([2, "$cancel", [8]])
        assert c.response(8) == (None, "finished anyway")
        c.close_stdin()
        assert c.wait() == 0


@pytest.mark.parametrize("how", ["$stop", "eof"])
def test_stop_lets_in_flight_work_finish(how):
    with worker("async") as c:
        c.request(5, "started_sleep", 300)
        c.wait_for(lambda m: m[:2] == [2, "started"])
        if how == "$stop":
            c.write([2, "$stop", []])
        else:
            c.close_stdin()
        assert c.next_msg() == [2, "message", ["finished 300"]]
        assert c.response(5) == (None, "slept")
        assert c.read_msg() is None
        assert c.wait() == 0
        assert "run() returned" in c.stderr


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["$stop", "eof"])
def test_stop_when_idle_exits_zero(mode, how):
    with worker(mode) as c:
        assert c.call("echo", 1) == 1
        if how == "$stop":
            c.write([2, "$stop", []])
        else:
            c.close_stdin()
        assert c.read_msg() is None
        assert c.wait() == 0
        assert "run() returned" in c.stderr


def test_requests_after_stop_are_refused():
    with worker("async") as c:
        c.request(1, "started_sleep", 300)
        c.wait_for(lambda m: m[:2] == [2, "started"])
        c.write([2, "$stop", []])
        c.request(2, "echo", "late")
        err, _ = c.response(2)
        assert err == {"type": "Stopping", "message": 'request "echo" arrived after $stop: '
                       'the child starts no new handlers, so it was not run'}
        assert c.response(1) == (None, "slept")
        assert c.wait() == 0


@pytest.mark.parametrize("mode", MODES)
def test_messages_after_stop_still_reach_listeners(mode):
    with worker(mode) as c:
        assert c.call("echo", 1) == 1
        # Crossing $stop on the way (one read): the message is delivered, the request refused.
        c.write_raw(frame([2, "$stop", []]) + frame([2, "message", ["late"]])
                    + frame([0, 3, "aecho" if mode == "async" else "echo", ["late"]]))
        assert c.next_msg() == [2, "message", [{"got": "late"}]]
        err, _ = c.response(3)
        assert err["type"] == "Stopping" and '"%s"' % ("aecho" if mode == "async" else "echo") \
            in err["message"]
        assert c.read_msg() is None
        assert c.wait() == 0


def test_calls_made_after_stop_are_still_answered():
    # SPEC section 6: after $stop the host still answers the child's calls, so a handler in
    # flight can finish its work.
    with worker("async") as c:
        c.request(4, "call_unanswered")
        c.wait_for(lambda m: m[:2] == [2, "started"])
        req = c.wait_for(lambda m: m[0] == 0 and m[2] == "never_answers")
        c.write([2, "$stop", []])
        c.write([1, req[1], None, "late but here"])
        assert c.response(4) == (None, "answered")
        assert c.wait() == 0


def test_pending_calls_fail_on_eof_instead_of_hanging():
    with worker("async") as c:
        c.request(4, "call_unanswered")
        c.wait_for(lambda m: m[:2] == [2, "started"])
        c.wait_for(lambda m: m[0] == 0 and m[2] == "never_answers")
        c.close_stdin()
        err, result = c.response(4)
        assert err is None and result[0] == "ChannelClosedError"
        assert "never_answers" in result[1] and "end of file" in result[1]
        assert c.wait() == 0


def test_errors_carry_type_message_traceback_and_data():
    with worker("sync") as c:
        c.request(1, "boom")
        err, result = c.response(1)
        assert result is None
        assert err["type"] == "CustomError"
        assert err["message"] == "it went boom"
        assert err["data"] == {"code": 7, "why": ["a", "b"]}
        assert err["traceback"].startswith("Traceback (most recent call last):")
        assert 'in boom' in err["traceback"] and "CustomError: it went boom" in err["traceback"]
        assert "_session.py" not in err["traceback"]  # the library's own frame is left out
        c.request(2, "nope")
        assert c.response(2) == ({"type": "MethodNotFound",
                                  "message": 'no handler for method "nope"'}, None)
        c.request(3, "echo")  # wrong number of params: the TypeError is reported
        err, _ = c.response(3)
        assert err["type"] == "TypeError" and "echo()" in err["message"]
        c.close_stdin()
        assert c.wait() == 0


@pytest.mark.parametrize("mode", MODES)
def test_host_errors_raise_remote_error(mode):
    with worker(mode) as c:
        r = c.call("host_error")
        assert r == {"class": "RemoteError", "type": "KeyError",
                     "message": "'host failed on nope'", "traceback": "host traceback",
                     "data": {"k": 1}}
        c.request(9, "missing_on_host")
        req = c.wait_for(lambda m: m[0] == 0 and m[2] == "no_such_host_method")
        c.write([1, req[1], {"type": "MethodNotFound",
                             "message": 'no handler for method "no_such_host_method"'}, None])
        assert c.response(9) == (None, ["MethodNotFoundError", "MethodNotFound",
                                        'no handler for method "no_such_host_method"'])
        c.close_stdin()
        assert c.wait() == 0


def test_unencodable_results_become_error_responses():
    with worker("sync") as c:
        for kind, words in [("object", "an object of type object at result; "),
                            ("naive", "without a timezone (2020-01-01 00:00:00) at result: "),
                            ("bigint", "the int 1180591620717411303424, outside the range "
                                       "msgpack can carry (-2**63 to 2**64-1) at result[1]['k']"),
                            ("deep", "nested deeper than 128 at result[0][0]")]:
            c.request(1, "bad_result", kind)
            err, _ = c.response(1)
            assert err["type"] == "EncodeError", err
            assert words in err["message"], err
            assert 'the result of handler "bad_result"' in err["message"]
        assert c.call("echo", "ok") == "ok"
        c.close_stdin()
        assert c.wait() == 0


def test_timestamps_are_sent_as_msgpack_timestamps():
    with worker("sync") as c:
        c.request(1, "time", "2021-01-01T00:00:00+00:00")
        body = c.read_frame()
        assert body == bytes.fromhex("940101c0d6ff5fee6600")
        c.close_stdin()
        assert c.wait() == 0


def test_oversize_frames_are_refused_both_ways():
    with worker("sync", max_frame=1000) as c:
        c.request(1, "big", 2000)
        err, _ = c.response(1)
        assert err["type"] == "ProtocolError"
        assert "above the maximum frame size of 1000 bytes" in err["message"]
        r = c.call("send_big", 2000)
        assert r["type"] == "FrameTooLargeError" and r["limit"] == 1000 and r["size"] > 2000
        assert c.call("big", 10) == b"x" * 10  # still usable
        c.write([2, "message", ["y" * 2000]])  # too big for the child: a protocol error
        assert c.read_msg() is None
        assert c.wait() == 1
        assert "above the maximum frame size of 1000 bytes" in c.stderr


def test_undecodable_params_fail_only_that_request():
    with worker("sync") as c:
        # echo("\xff\xfe" as a str): not UTF-8.
        c.write_raw(raw_frame("940001a46563686f91a2fffe"))
        err, _ = c.response(1)
        assert err["type"] == "DecodeError" and "not valid UTF-8" in err["message"]
        # echo({[1]: 2}): an array as a map key, which Python cannot hash.
        c.write_raw(raw_frame("940002a46563686f9181910102"))
        err, _ = c.response(2)
        assert err["type"] == "DecodeError" and "map key" in err["message"]
        assert c.call("echo", {1: "int keys are fine"}) == {1: "int keys are fine"}
        c.close_stdin()
        assert c.wait() == 0


def test_top_level_send_and_call_before_run():
    with Child("early.py") as c:
        c.expect_ready()
        assert c.read_msg() == [2, "message", ["early"]]
        req = c.read_msg()
        assert req[0] == 0 and req[2] == "host_add" and req[3] == [20, 22]
        # While the child blocks in call(), a request arrives: it is served after run() starts.
        c.request(1, "echo", "queued")
        c.write([1, req[1], None, 42])
        assert c.read_msg() == [2, "message", [{"total": 42}]]
        assert c.response(1) == (None, "queued")
        c.close_stdin()
        assert c.wait() == 0


def test_serve_in_a_users_own_asyncio_program():
    with Child("aio_main.py") as c:
        c.host_handlers["host_add"] = host_add
        c.expect_ready()
        assert c.next_msg() == [2, "message", [{"before": 3}]]
        assert c.call("aecho", [1]) == [1]
        assert c.call("sum_host", 5, 6) == 11
        c.write([2, "$stop", []])
        assert c.next_msg() == [2, "message", ["served"]]
        assert c.wait() == 0


@pytest.mark.parametrize("unbuffered", [False, True])
def test_without_protocol_env_the_takeover_happens_at_first_use(unbuffered):
    with Child("lazy.py", unbuffered=unbuffered, protocol_env=False) as c:
        c.expect_ready()
        assert c.call("shout", "hello") == "HELLO"
        c.close_stdin()
        assert c.wait() == 0
        assert "hello" in c.stderr


def test_host_garbage_ends_the_child_with_a_clear_error():
    with worker("async") as c:
        assert c.call("echo", 1) == 1
        c.write_raw(b"\x00\x00\x00\x05hello")
        assert c.read_msg() is None
        assert c.wait() == 1
        assert "polyfork: protocol error" in c.stderr
        assert "68 65 6c 6c 6f" in c.stderr  # quotes what it received
        assert "Traceback" not in c.stderr


def test_a_response_for_an_unknown_id_is_dropped():
    with worker("sync") as c:
        c.write([1, 999, None, "nobody asked"])
        assert c.call("echo", 2) == 2
        c.close_stdin()
        assert c.wait() == 0


def test_child_exits_when_the_host_dies_mid_call():
    with worker("sync") as c:
        c.host_handlers.clear()
        c.request(1, "sum_host", 1, 2)
        req = c.wait_for(lambda m: m[0] == 0 and m[2] == "host_add")
        assert req[3] == [1, 2]
        c.close_stdin()  # the host "dies" without answering: the call fails, the child exits 0
        err, _ = c.response(1)
        assert err["type"] == "ChannelClosedError" and "end of file" in err["message"]
        assert c.wait() == 0


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_protocol_fds_do_not_leak_and_stdin_is_out_of_reach():
    with worker("sync") as c:
        r = c.call("stdio")
        # 0, 1, 2 and the descriptor listdir itself opened: no copy of the protocol pipes.
        assert r == {"subprocess_fds": "[0, 1, 2, 3]", "stdin": ""}
        c.close_stdin()
        assert c.wait() == 0


@pytest.mark.parametrize("mode", MODES)
def test_garbage_while_a_handler_waits_on_the_host(mode):
    with worker(mode) as c:
        c.host_handlers.clear()
        c.request(1, "sum_host", 1, 2)
        c.wait_for(lambda m: m[0] == 0 and m[2] == "host_add")
        c.write_raw(b"\x00\x00\x00\x01\xc1")
        # SPEC section 6: the session is over. The child's call fails with the protocol
        # error, nothing more is sent (no response to the request that was waiting), one line
        # names the error, and the exit status is not 0.
        assert c.read_msg() is None
        assert c.wait() == 1
        lines = c.stderr.splitlines()
        assert len(lines) == 1, c.stderr
        assert "polyfork: protocol error" in lines[0] and "0xc1" in lines[0]


@pytest.mark.parametrize("mode", MODES)
def test_stdin_from_a_regular_file(mode, tmp_path):
    """A selector cannot watch a regular file; the child must still serve it."""
    import subprocess
    from pfhost import PYTHON, SRC, CHILDREN, unpack

    path = tmp_path / "in.bin"
    path.write_bytes(frame([0, 1, "echo", ["from a file"]]) + frame([2, "message", ["m"]])
                     + frame([0, 2, "echo", [2]]))
    env = dict(os.environ, PYTHONPATH=SRC, POLYFORK_PROTOCOL="1")
    with open(path, "rb") as f:
        p = subprocess.run([PYTHON, os.path.join(CHILDREN, "worker.py"), mode], stdin=f,
                           capture_output=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    out, msgs = p.stdout, []
    while out:
        n = int.from_bytes(out[:4], "big")
        msgs.append(unpack(out[4:4 + n]))
        out = out[4 + n:]
    assert msgs[0][1] == "$ready"
    assert msgs[1:] == [[1, 1, None, "from a file"], [2, "message", [{"got": "m"}]],
                        [1, 2, None, 2]]


def test_threads_calling_before_run_share_the_channel():
    with Child("threads.py") as c:
        c.expect_ready()
        # Answer the eight calls in reverse order of arrival, so that the thread reading the
        # channel often gets someone else's answer first.
        reqs = [c.read_msg() for _ in range(8)]
        assert sorted(r[3][0] for r in reqs) == list(range(8))
        c.request(1, "echo", "queued while the threads waited")
        for r in reversed(reqs):
            c.write([1, r[1], None, r[3][0] + r[3][1]])
        assert c.read_msg() == [2, "message", [[[i, i + 100] for i in range(8)]]]
        assert c.response(1) == (None, "queued while the threads waited")
        c.close_stdin()
        assert c.wait() == 0


@pytest.mark.parametrize("mode", MODES)
def test_large_frames_both_ways(mode):
    big = bytes(range(256)) * 20000  # 5 MB: read into one buffer, written with writev
    with worker(mode) as c:
        assert c.call("echo", big) == big
        assert c.call("echo", {"s": "\u00e9" * 300000, "n": list(range(70000))}) == {
            "s": "\u00e9" * 300000, "n": list(range(70000))}
        assert c.call("big", 3_000_000) == b"x" * 3_000_000
        c.close_stdin()
        assert c.wait() == 0


def test_end_of_file_inside_a_large_frame():
    with worker("sync") as c:
        c.write_raw((100000).to_bytes(4, "big") + b"\x94" + b"\x00" * 50000)
        c.close_stdin()
        assert c.read_msg() is None
        assert c.wait() == 1
        assert "truncated frame: end of file after 50001 of 100000 body bytes" in c.stderr


@pytest.mark.parametrize("mode", MODES)
def test_a_plain_handler_may_return_an_awaitable(mode):
    with worker(mode) as c:
        assert c.call("returns_awaitable", [1, "x"]) == [1, "x"]
        assert c.call("is_async_mode") is True
        assert c.call("echo", 5) == 5
        c.close_stdin()
        assert c.wait() == 0


def test_text_printed_before_the_import_goes_to_the_log():
    # stdout is a pipe, so without PYTHONUNBUFFERED the text waits in sys.stdout's buffer;
    # the import moves the channel away before flushing it. (Unbuffered, it would already be
    # in the channel: import polyfork before printing.)
    with Child("print_first.py") as c:
        c.expect_ready()
        assert c.call("echo", 1) == 1
        c.close_stdin()
        assert c.wait() == 0
        assert "printed before the import" in c.stderr


def test_the_instance_api():
    with Child("instance.py") as c:
        c.expect_ready()
        assert c.call("add", 1, 2) == 3
        c.write([2, "message", ["a"]])
        assert c.next_msg() == [2, "message", [{"seen": ["a"]}]]
        assert c.call("forget") == 1
        c.write([2, "message", ["b"]])  # no listener any more: dropped
        assert c.call("add", 2, 2) == 4
        c.close_stdin()
        assert c.read_msg() is None
        assert c.wait() == 0


def test_value_count_limit_both_ways():
    with worker("sync", env={"POLYFORK_MAX_VALUES": "200"}) as c:
        # [1, id, nil, [0 .. 299]]: 305 values, above 200: an error response, not a crash.
        c.request(1, "many", 300)
        err, _ = c.response(1)
        assert err["type"] == "ProtocolError", err
        assert "more than 200 msgpack values" in err["message"]
        assert 'the result of handler "many"' in err["message"]
        r = c.call("send_many", 300)
        assert r == {"type": "TooManyValuesError", "count": 305, "limit": 200}
        assert c.call("many", 150) == list(range(150))  # still usable
        c.write([2, "message", [list(range(300))]])  # too many for the child: protocol error
        assert c.read_msg() is None
        assert c.wait() == 1
        assert "more than 200 values in one frame (POLYFORK_MAX_VALUES)" in c.stderr


# Malformed timestamps (SPEC section 3, Ext): an ext -1 whose data is not 4, 8 or 12 bytes, or
# whose nanoseconds exceed 999999999, fails that one value, never the session.
BAD_TIMESTAMPS = [
    ("d5ff0000", "ext -1 with 2 bytes of data"),
    ("c703ff000000", "ext -1 with 3 bytes of data"),
    ("d8ff" + "00" * 16, "ext -1 with 16 bytes of data"),
    ("d7ff" + ((1 << 30) - 1 << 34).to_bytes(8, "big").hex(), "nanoseconds 1073741823"),
    ("c70cff" + (10 ** 9).to_bytes(4, "big").hex() + "00" * 8, "nanoseconds 1000000000"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ts,words", BAD_TIMESTAMPS, ids=[w for _, w in BAD_TIMESTAMPS])
def test_a_malformed_timestamp_fails_only_its_message(mode, ts, words):
    with worker(mode) as c:
        # echo(["ok", <bad timestamp>]): an error response naming the problem.
        c.write_raw(raw_frame("940001a46563686f9192a26f6b" + ts))
        err, result = c.response(1)
        assert result is None and err["type"] == "DecodeError", err
        assert "malformed timestamp" in err["message"] and words in err["message"], err
        assert 'the params of "echo"' in err["message"]
        # A message carrying one is dropped with one log line; the next one is delivered.
        c.write_raw(raw_frame("9302a76d65737361676591" + ts))
        c.write([2, "message", ["after"]])
        assert c.next_msg() == [2, "message", [{"got": "after"}]]
        assert c.call("echo", "still here") == "still here"
        c.close_stdin()
        assert c.wait() == 0
        lines = [l for l in c.stderr.splitlines() if "malformed timestamp" in l]
        assert len(lines) == 1 and 'dropping notification "message"' in lines[0], c.stderr


def test_a_malformed_timestamp_in_a_response_fails_only_that_call():
    with worker("sync") as c:
        c.host_handlers.clear()
        c.request(1, "host_error")  # calls host_fail and reports the exception it gets
        req = c.wait_for(lambda m: m[0] == 0 and m[2] == "host_fail")
        body = bytes.fromhex("9401") + bytes([req[1]]) + bytes.fromhex("c0d5ff0000")
        c.write_raw(len(body).to_bytes(4, "big") + body)
        err, _ = c.response(1)
        assert err["type"] == "DecodeError", err
        assert "malformed timestamp" in err["message"] and "host_fail" in err["message"]
        assert c.call("echo", 1) == 1
        c.close_stdin()
        assert c.wait() == 0


def test_a_protocol_error_ends_the_session_without_fabricated_answers():
    with Child(os.path.join(os.path.dirname(__file__), "conformance_child.py")) as c:
        c.expect_ready()
        c.request(1, "sleep", 3_600_000)  # a handler in flight
        c.request(2, "call_host", "never_answered", [])  # a call from the child, pending
        c.wait_for(lambda m: m[0] == 0 and m[2] == "never_answered")
        c.write_raw(b"\x00\x00\x00\x05hello")
        # No CancelledError for request 1 (no $cancel was sent), no answer to request 2 (its
        # call to the host failed with the protocol error), no "cancelled" notification.
        assert c.read_msg() is None
        assert c.inbox == []
        assert c.wait() == 1
        lines = c.stderr.splitlines()
        assert len(lines) == 1, c.stderr
        assert "polyfork: protocol error" in lines[0] and "68 65 6c 6c 6f" in lines[0]


@pytest.mark.parametrize("mode", MODES)
def test_an_ext_of_a_negative_type_is_echoed_not_a_protocol_error(mode):
    with worker(mode) as c:
        # echo(ext -2 "ab"): delivered as an opaque ExtType and sent back as it came.
        c.write_raw(raw_frame("940001a46563686f91d5fe6162"))
        assert c.read_frame() == bytes.fromhex("940101c0d5fe6162")
        assert c.call("echo", "still here") == "still here"
        c.close_stdin()
        assert c.wait() == 0


CONFORMANCE_CHILD = os.path.join(os.path.dirname(__file__), "conformance_child.py")


def _ends_with_the_duplicate_id(c, msgid, method):
    # SPEC 4.1: no answer to either request (the host could not tell them apart), one line
    # naming the id, the status of a protocol error. The child used to run both.
    assert c.read_msg() is None
    assert c.inbox == []
    assert c.wait() == 1
    lines = c.stderr.splitlines()
    assert len(lines) == 1, c.stderr
    assert 'request id %d ("%s") is already in flight' % (msgid, method) in lines[0], c.stderr


def test_a_request_with_the_id_of_a_running_handler_is_a_protocol_error():
    with Child(CONFORMANCE_CHILD) as c:
        c.expect_ready()
        c.request(7, "sleep", 3_600_000)  # an async handler in flight
        c.request(7, "echo", "again")
        _ends_with_the_duplicate_id(c, 7, "echo")


@pytest.mark.parametrize("mode", MODES)
def test_a_request_with_the_id_of_a_handler_blocked_in_call_is_a_protocol_error(mode):
    with Child("worker.py", mode) as c:
        c.expect_ready()
        c.request(9, "sum_host", 1, 2)  # a plain handler, blocked in call() (never answered)
        c.wait_for(lambda m: m[0] == 0 and m[2] == "host_add")
        c.request(9, "echo", "again")
        _ends_with_the_duplicate_id(c, 9, "echo")


def test_two_requests_with_one_id_in_one_read_are_a_protocol_error():
    with Child(CONFORMANCE_CHILD) as c:
        c.expect_ready()
        c.request(1, "sleep", 3_600_000)
        c.write_raw(frame([0, 2, "sleep", [3_600_000]]) + frame([0, 2, "echo", ["again"]]))
        _ends_with_the_duplicate_id(c, 2, "echo")


@pytest.mark.parametrize("mode", MODES)
def test_an_id_may_be_used_again_once_answered(mode):
    with worker(mode) as c:
        for value in ("a", "b"):
            c.request(5, "echo", value)
            assert c.response(5) == (None, value)
        c.request(5, "sum_host", 1, 2)
        assert c.response(5) == (None, 3)
        c.request(5, "echo", "c")
        assert c.response(5) == (None, "c")
        c.close_stdin()
        assert c.wait() == 0


def _send_ignoring_a_dead_child(c, obj):
    try:
        c.write(obj)
    except BrokenPipeError:  # it already exited: that is what is asked of it
        pass


def _wait_for_stderr(c, text):
    deadline = time.monotonic() + 30
    while text not in c.stderr:
        assert time.monotonic() < deadline, "no %r on stderr: %r" % (text, c.stderr)
        time.sleep(0.01)


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("trigger", ["answer", "send"])
@pytest.mark.parametrize("mode", MODES)
def test_a_failed_write_ends_the_session_as_in_php(mode, trigger, unbuffered):
    # docs/faults.md 8: the host closes its read end of the child's stdout and keeps the
    # child's stdin open. The child used to run every later request's handler, with nothing
    # logged, until end of stdin.
    with Child("write_fails.py", mode, unbuffered=unbuffered) as c:
        c.expect_ready()
        if mode == "async":
            c.request(1, "sleep", 3600)  # in flight: cancelled, not waited for
        c.proc.stdout.close()
        if trigger == "answer":
            c.request(2, "log", "first")  # its answer cannot be written
            _wait_for_stderr(c, "first")
        else:
            c.write([2, "message", ["first"]])  # the listener's send fails
            _wait_for_stderr(c, "message first")
        _send_ignoring_a_dead_child(c, [0, 3, "log", ["second"]])
        _send_ignoring_a_dead_child(c, [2, "message", ["third"]])
        try:
            code = c.proc.wait(30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the child still runs; stderr:\n" + c.stderr)
        assert code == 0
        c.wait()
        first = "first" if trigger == "answer" else "message first"
        assert c.stderr.splitlines() == [
            first, "polyfork: the host closed the channel: writing a frame failed (EPIPE); "
                   "stopping"], c.stderr
