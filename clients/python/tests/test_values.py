"""Values users return (SPEC 7): the encoder hook, built-in conversions, clear errors, typing."""
import os
import subprocess

import pytest

from pfhost import GUARD, HERE, SRC, Child


def values_child(*args, python=None):
    c = Child("values.py", *args, python=python)
    c.host_handlers["host_add"] = lambda a, b: a + b
    c.expect_ready()
    return c


def test_hook_and_builtin_conversions():
    with values_child() as c:
        assert c.call("builtins") == {
            "set": [3], "frozenset": ["a"], "enum": "red", "int_enum": 3,
            "point": {"x": 1, "y": 2.5, "tags": [4]},
            "money": [{"cents": 5, "of": "red"}]}
        c.request(1, "unknown")
        err, _ = c.response(1)
        assert err["type"] == "EncodeError"
        assert "an object of type decimal.Decimal;" in err["message"]
        assert 'the result of handler "unknown"' in err["message"]
        assert c.call("numpy_loaded") is False  # never imported for the conversions
        c.close_stdin()
        assert c.wait() == 0


def test_a_failed_send_in_a_listener_reaches_its_caller_or_the_log_once():
    with values_child() as c:
        c.write([2, "try_send", []])
        msg = c.next_msg()
        assert msg[:2] == [2, "message"]
        assert "cannot encode the value given to send(): it holds an object of type object" \
            in msg[2][0]["caught"]
        c.write([2, "send_uncaught", []])
        assert c.call("numpy_loaded") is False  # the session goes on
        c.close_stdin()
        assert c.wait() == 0
    lines = [l for l in c.stderr.splitlines() if "raised" in l]
    assert lines == ['polyfork: listener send_uncaught of notification "send_uncaught" raised'], \
        c.stderr
    assert "EncodeError: polyfork: cannot encode the value given to send()" in c.stderr


def test_call_in_a_coroutine_must_be_awaited():
    with values_child() as c:
        assert c.call("awaited") == 10
        c.request(1, "forgot_await")
        err, _ = c.response(1)
        assert err["type"] == "EncodeError", err
        assert "never awaited: await it first" in err["message"]
        assert "call_async" in err["message"]
        assert c.call("dropped_call") == "dropped"
        c.close_stdin()
        assert c.wait() == 0
    assert 'the result of polyfork.call("host_add") in a coroutine was never awaited' \
        in c.stderr


def test_numpy_values(extras):
    python = os.path.join(extras, "bin", "python")
    with values_child("numpy", python=python) as c:
        got = c.call("numpy_values")
        assert got == {"int64": 7, "float32": 1.5, "float64": 0.25, "bool": True,
                       "array": [0, 1, 2], "matrix": [[0, 0], [0, 0]], "float32s": [0.5],
                       "str": "s"}
        assert type(got["bool"]) is bool and type(got["int64"]) is int
        c.request(1, "numpy_unknown")
        err, _ = c.response(1)
        assert err["type"] == "EncodeError"
        assert "an object of type numpy.random._generator.Generator" in err["message"]
        c.close_stdin()
        assert c.wait() == 0


TYPED = HERE + "/typing"


def mypy(extras, *files):
    env = dict(os.environ, MYPYPATH=SRC)
    env.pop("PYTHONPATH", None)
    return subprocess.run([os.path.join(extras, "bin", "python"), "-m", "mypy", "--strict",
                           "--cache-dir", os.path.join(extras, "mypy-cache")] + list(files),
                          capture_output=True, text=True, env=env, timeout=GUARD * 5)


def test_a_typed_worker_passes_mypy_strict(extras):
    p = mypy(extras, TYPED + "/worker_ok.py")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Success" in p.stdout


def test_the_decorators_keep_the_types_of_handlers(extras):
    # Were handle/on to return Any, these misuses would pass unnoticed.
    p = mypy(extras, TYPED + "/worker_bad.py")
    assert p.returncode == 1, p.stdout + p.stderr
    errors = [l for l in p.stdout.splitlines() if ": error:" in l]
    assert len(errors) == 3, p.stdout
    assert 'Incompatible types in assignment (expression has type "int", variable has type ' \
        '"str")' in p.stdout
    assert 'Argument 1 to "on_message" has incompatible type "int"' in p.stdout
    assert '"Coroutine[Any, Any, float]"' in p.stdout
