"""Values users return (SPEC 7): the encoder hook, built-in conversions, clear errors, typing."""
import os
import subprocess

import pytest

from pfhost import GUARD, HERE, SRC, Child


def values_child(*args, python=None, env=None):
    c = Child("values.py", *args, python=python, env=env)
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
        assert "an object of type decimal.Decimal at result['n'];" in err["message"]
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


def test_encode_errors_name_where_the_bad_value_is():
    # The worker answers each call with an error that says what was wrong and where, in the
    # PHP client's path notation (a path above 60 characters shortened as PHP does), and
    # serves on.
    deep = "result['d']" + "[0]" * 127
    deep = deep[:40] + "..." + deep[-12:]
    cases = {
        "type": "it holds an object of type decimal.Decimal at result['a'][1]; polyfork sends",
        "bigint": "it holds the int 1180591620717411303424, outside the range msgpack can "
                  "carry (-2**63 to 2**64-1) at result[1]['k'][0]",
        "naive": "it holds a datetime without a timezone (2020-01-01 00:00:00) at "
                 "result['when'][1]: give it one",
        "surrogate": "it holds a str that is not valid UTF-8 (surrogates not allowed) at "
                     "result['it\\'s']",
        "hook": "it holds an object of type __main__.Fragile at result[1]['y']; the encoder hook "
                "(polyfork.encoder) raised ValueError: fragile on purpose",
        "converted": "it holds an object of type decimal.Decimal at result['p']['tags'][0];",
        "deep": "it holds containers nested deeper than 128 at %s (the message array counts "
                "as 1)" % deep,
        "self": "it holds containers nested deeper than 128 at result[0][0][0][0][0][0][0][0]"
                "[0][0][0][...[0][0][0][0] (the message array counts as 1)",
    }
    with values_child() as c:
        for kind, words in cases.items():
            c.request(1, "bad_at", kind)
            err, _ = c.response(1)
            assert err["type"] == "EncodeError", (kind, err)
            assert err["message"].startswith(
                'polyfork: cannot encode the result of handler "bad_at": '), (kind, err)
            assert words in err["message"], (kind, err)
        assert c.call("builtins")["enum"] == "red"  # the session goes on
        c.close_stdin()
        assert c.wait() == 0


def test_send_notify_and_call_errors_name_where_the_bad_value_is():
    with values_child() as c:
        assert c.call("send_bad_at", "send") == (
            "polyfork: cannot encode the value given to send(): it holds an object of type "
            "decimal.Decimal at params[0]['a'][1]; polyfork sends None, bool, int, float, str, "
            "bytes, list, tuple, dict, set, datetime (with a timezone), Enum, dataclasses, numpy "
            "scalars and arrays, msgpack.Timestamp and msgpack.ExtType, and what an encoder "
            "hook (polyfork.encoder) turns into those")
        assert "it holds an object of type decimal.Decimal at params[1]['a'][1];" in \
            c.call("send_bad_at", "notify")
        assert "it holds an object of type decimal.Decimal at params[0]['a'][1];" in \
            c.call("send_bad_at", "call")
        c.close_stdin()
        assert c.wait() == 0


def test_too_many_values_names_the_container():
    with values_child(env={"POLYFORK_MAX_VALUES": "200"}) as c:
        c.request(1, "bad_at", "many")
        err, _ = c.response(1)
        assert err["type"] == "ProtocolError", err
        assert "more than 200 msgpack values" in err["message"], err
        assert "the container at result[1] brings the count to 308" in err["message"], err
        c.close_stdin()
        assert c.wait() == 0
