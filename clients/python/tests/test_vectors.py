"""The golden vectors of protocol/testdata, checked byte-exactly in both directions."""
import datetime
import json
import os
import struct

import msgpack
import pytest

from polyfork import ProtocolError
from polyfork._channel import DEFAULT_MAX_FRAME_SIZE, FrameReader
from polyfork._writer import FrameWriter
from polyfork._codec import Encoder, decode_message, decode_value
from polyfork._codec import _ext as ext_type  # msgpack.ExtType, also for the types -128..-2

TESTDATA = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                         "protocol", "testdata"))



def load(name):
    with open(os.path.join(TESTDATA, name), encoding="utf-8") as f:
        return json.load(f)


VALUES = load("values.json")
MESSAGES = load("messages.json")
INVALID = load("invalid.json")
UTC = datetime.timezone.utc


def items_of(t):
    if "repeat" in t:
        return [t["item"]] * t["repeat"]
    return t["items"]


def to_py(t):
    """The Python value a tagged value should decode to (SPEC section 7)."""
    ty = t["type"]
    if ty == "nil":
        return None
    if ty == "bool":
        return t["value"]
    if ty == "int":
        return int(t["value"])
    if ty == "float64":
        return struct.unpack(">d", bytes.fromhex(t["bits"]))[0]
    if ty == "float32":
        return struct.unpack(">f", bytes.fromhex(t["bits"]))[0]
    if ty == "str":
        return t["value"]
    if ty == "bin":
        return bytes.fromhex(t["hex"])
    if ty == "array":
        return [to_py(x) for x in items_of(t)]
    if ty == "map":
        return {to_py(k): to_py(v) for k, v in t["entries"]}
    if ty == "ext":
        data = bytes.fromhex(t["hex"])
        if t["ext_type"] == -1:
            ts = msgpack.Timestamp.from_bytes(data)
            return datetime.datetime(1970, 1, 1, tzinfo=UTC) + datetime.timedelta(
                seconds=ts.seconds, microseconds=ts.nanoseconds // 1000)
        return ext_type(t["ext_type"], data)
    raise AssertionError("unknown tagged type %r" % ty)


def assert_matches(actual, t, path="value"):
    """Checks actual against a tagged value, types included (True is not 1, 1.0 is not 1)."""
    ty = t["type"]
    if ty == "nil":
        assert actual is None, path
    elif ty == "bool":
        assert type(actual) is bool and actual is t["value"], path
    elif ty == "int":
        assert type(actual) is int and actual == int(t["value"]), path
    elif ty == "float64":
        assert type(actual) is float, path
        assert struct.pack(">d", actual).hex() == t["bits"], path
    elif ty == "float32":
        assert type(actual) is float, path
        want = struct.unpack(">f", bytes.fromhex(t["bits"]))[0]
        assert struct.pack(">d", actual) == struct.pack(">d", want), path
    elif ty == "str":
        assert type(actual) is str and actual == t["value"], path
    elif ty == "bin":
        assert type(actual) is bytes and actual.hex() == t["hex"], path
    elif ty == "array":
        items = items_of(t)
        assert type(actual) is list and len(actual) == len(items), path
        for i, (a, x) in enumerate(zip(actual, items)):
            assert_matches(a, x, "%s[%d]" % (path, i))
    elif ty == "map":
        assert type(actual) is dict and len(actual) == len(t["entries"]), path
        for (ak, av), (tk, tv) in zip(actual.items(), t["entries"]):
            assert_matches(ak, tk, path + ".key")
            assert_matches(av, tv, "%s[%r]" % (path, ak))
    elif ty == "ext":
        if t["ext_type"] == -1:
            assert isinstance(actual, datetime.datetime) and actual.tzinfo is not None, path
            assert actual == to_py(t), path
        else:
            assert isinstance(actual, msgpack.ExtType), path
            assert actual == ext_type(t["ext_type"], bytes.fromhex(t["hex"])), path
    else:
        raise AssertionError(ty)


def has_float32(t):
    if t["type"] == "float32":
        return True
    if t["type"] == "array":
        return any(has_float32(x) for x in items_of(t))
    if t["type"] == "map":
        return any(has_float32(k) or has_float32(v) for k, v in t["entries"])
    return False


def vid(v):
    return v["name"]


@pytest.mark.parametrize("vec", VALUES, ids=vid)
def test_value_decodes(vec):
    assert_matches(decode_value(bytes.fromhex(vec["hex"])), vec["value"])


@pytest.mark.parametrize("vec", VALUES, ids=vid)
def test_value_encodes_back(vec):
    raw = bytes.fromhex(vec["hex"])
    out = Encoder().encode(decode_value(raw), vec["name"])
    if "float32" in vec["features"]:
        # Python has one float type, a float64: float32 values arrive exactly and go back as
        # float64 of the same value (SPEC section 7).
        want = struct.unpack(">f", bytes.fromhex(vec["value"]["bits"]))[0]
        assert out == b"\xcb" + struct.pack(">d", want)
    else:
        assert out.hex() == vec["hex"]


@pytest.mark.parametrize("vec", VALUES, ids=vid)
def test_value_inside_a_message(vec):
    """Each value as the param of a notification: depth counts from the message array."""
    raw = bytes.fromhex(vec["hex"])
    body = b"\x93\x02\xa7message\x91" + raw
    msg = decode_message(body)
    assert msg[:2] == [2, "message"] and len(msg[2]) == 1
    assert_matches(msg[2][0], vec["value"])
    if not has_float32(vec["value"]):
        assert Encoder().encode(msg) == body


def tagged_error(e):
    if e is None:
        return None
    out = {"type": e["type"], "message": e["message"]}
    if "traceback" in e:
        out["traceback"] = e["traceback"]
    if "data" in e:
        out["data"] = to_py(e["data"])
    return out


def message_of(m):
    if m["kind"] == 0:
        return [0, m["id"], m["method"], to_py(m["params"])]
    if m["kind"] == 1:
        return [1, m["id"], tagged_error(m["error"]), to_py(m["result"])]
    return [2, m["method"], to_py(m["params"])]


@pytest.mark.parametrize("vec", MESSAGES, ids=vid)
def test_message_decodes(vec):
    raw = bytes.fromhex(vec["hex"])
    got = []
    r, w = os.pipe()
    try:
        os.write(w, raw)
        os.close(w)
        reader = FrameReader(r, DEFAULT_MAX_FRAME_SIZE,
                             lambda b, more: got.append(decode_message(b)))
        while reader.read_once():
            pass
    finally:
        os.close(r)
    assert len(got) == 1
    msg, m = got[0], vec["message"]
    assert msg[0] == m["kind"] and type(msg[0]) is int
    if m["kind"] == 0:
        assert msg[1] == m["id"] and msg[2] == m["method"]
        assert_matches(msg[3], m["params"])
    elif m["kind"] == 1:
        assert msg[1] == m["id"]
        if m["error"] is None:
            assert msg[2] is None
        else:
            err = dict(msg[2])
            data = err.pop("data", None)
            want = dict(m["error"])
            want_data = want.pop("data", None)
            assert err == want
            if want_data is not None:
                assert_matches(data, want_data)
        assert_matches(msg[3], m["result"])
    else:
        assert msg[1] == m["method"]
        assert_matches(msg[2], m["params"])


@pytest.mark.parametrize("vec", MESSAGES, ids=vid)
def test_message_encodes(vec):
    r, w = os.pipe()
    try:
        FrameWriter(w, DEFAULT_MAX_FRAME_SIZE).write(message_of(vec["message"]), "the message")
        os.close(w)
        w = None
        out = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out += chunk
    finally:
        os.close(r)
        if w is not None:
            os.close(w)
    assert out.hex() == vec["hex"]


@pytest.mark.parametrize("vec", INVALID, ids=vid)
def test_invalid_frame_is_a_protocol_error(vec):
    raw = bytes.fromhex(vec["hex"])
    r, w = os.pipe()
    try:
        os.write(w, raw)
        os.close(w)
        reader = FrameReader(r, DEFAULT_MAX_FRAME_SIZE, lambda b, more: decode_message(b))
        with pytest.raises(ProtocolError) as info:
            while reader.read_once():
                pass
    finally:
        os.close(r)
    text = str(info.value)
    assert text.startswith("polyfork: protocol error: "), text
    assert "\n" not in text


def test_invalid_vectors_cover_each_check():
    """Spot-checks that the error names what was wrong, not just that something was."""
    def err(name):
        vec = next(v for v in INVALID if v["name"] == name)
        body = bytes.fromhex(vec["hex"])[4:]
        with pytest.raises(ProtocolError) as info:
            decode_message(body)
        return str(info.value)

    assert "ids are integers from 0 to 4294967295" in err("negative id")
    assert "int -1" in err("negative id")
    assert "must be a str" in err("method as bin")
    assert "not valid UTF-8" in err("invalid UTF-8 in method")
    assert "nested deeper than 128" in err("nesting 129 deep")
    assert "nested deeper than 128" in err("nesting 10000 deep")
    assert "left over" in err("trailing bytes after the message")
    assert "no str \"message\"" in err("error map without message")
    assert "unknown message kind 3" in err("unknown kind 3")
    assert "float" in err("id as a float")


def test_frame_length_errors_name_the_sizes():
    for raw, words in [("00000000", "length of 0"),
                       ("ffffffff00", "4294967295 bytes, above the maximum frame size of 67108864"),
                       ("0000", "after 2 of the 4 length bytes"),
                       ("0000000a9400", "after 2 of 10 body bytes")]:
        r, w = os.pipe()
        try:
            os.write(w, bytes.fromhex(raw))
            os.close(w)
            reader = FrameReader(r, DEFAULT_MAX_FRAME_SIZE, lambda b, more: decode_message(b))
            with pytest.raises(ProtocolError) as info:
                while reader.read_once():
                    pass
            assert words in str(info.value)
        finally:
            os.close(r)
