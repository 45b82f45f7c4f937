"""Sends from a signal handler or the encoder hook that interrupt a write of the same thread."""
import pytest

from pfhost import Child

MODES = ["sync", "async"]


@pytest.mark.parametrize("method, sent", [("signals", [2, "from_signal", ["usr1"]]),
                                          ("sends", [2, "message", ["from the hook"]])])
@pytest.mark.parametrize("mode", MODES)
def test_a_send_that_interrupts_a_write_of_its_own_thread_goes_out_after_it(mode, method, sent):
    # It waited for the writer's lock, which its own thread held: the worker hung for ever
    # (with a timer's signals, it recursed until it crashed in the middle of a frame).
    with Child("signals.py", mode) as c:
        c.expect_ready()
        c.request(1, method)
        got = [c.read_msg(), c.read_msg()]
        c.request(2, method)
        got += [c.read_msg(), c.read_msg()]
        c.close_stdin()
        assert c.read_msg() is None
        assert c.wait() == 0, c.stderr
    want = [[1, 1, None, "signalled" if method == "signals" else "sent"], sent]
    assert sorted(got[:2], key=repr) == sorted(want, key=repr), c.stderr
    want[0][1] = 2
    assert sorted(got[2:], key=repr) == sorted(want, key=repr), c.stderr


def test_a_timers_sends_during_large_answers_all_arrive_whole():
    # Whether a tick lands inside a write varies (and how many come): every tick must arrive,
    # once, and the frames stay whole.
    with Child("signals.py", "sync") as c:
        c.expect_ready()
        for i in (1, 2):
            c.request(i, "big_with_ticks", 8 << 20)
            assert c.response(i) == (None, b"x" * (8 << 20))
        c.request(3, "stop_ticks")
        assert c.response(3) == (None, True)
        c.close_stdin()
        ticks = [m for m in c.inbox]
        while True:
            m = c.read_msg()
            if m is None:
                break
            ticks.append(m)
        assert c.wait() == 0, c.stderr
    # Each tick once, whole. A handler may interrupt another's send, whose tick then goes out
    # after its own: the order is not the numbers'. One may come after stop_ticks' answer.
    assert all(m[:2] == [2, "tick"] for m in ticks), ticks[:5]
    assert sorted(m[2][0] for m in ticks) == list(range(len(ticks)))
