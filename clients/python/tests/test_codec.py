"""The value mapping and its edges (SPEC sections 3 and 7), beyond the golden vectors."""
import datetime
import os
import struct
import tempfile

import msgpack
import pytest

from polyfork import (BridgeError, DecodeError, EncodeError, FrameTooLargeError, ProtocolError,
                      TooManyValuesError)
from polyfork._channel import max_frame_size_from_env, max_values_from_env
from polyfork._writer import FrameWriter
from polyfork._codec import Encoder, ValueProblem, decode_message, decode_value

UTC = datetime.timezone.utc


def enc(v):
    return Encoder().encode(v)


def ts64(seconds, nanoseconds):
    return b"\xd7\xff" + struct.pack(">Q", (nanoseconds << 34) | seconds)


def ts96(seconds, nanoseconds):
    return b"\xc7\x0c\xff" + struct.pack(">Iq", nanoseconds, seconds)


def test_timestamps_decode_to_utc_datetimes_when_exact():
    assert decode_value(ts64(1609459200, 123456000)) == datetime.datetime(
        2021, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    old = decode_value(ts96(-2208988800, 0))  # 1900-01-01, before the epoch
    assert old == datetime.datetime(1900, 1, 1, tzinfo=UTC)


def test_timestamps_a_datetime_cannot_hold_stay_msgpack_timestamps():
    fine = decode_value(ts64(1609459200, 1))  # a nanosecond: no datetime can hold it
    assert fine == msgpack.Timestamp(1609459200, 1)
    far = decode_value(ts96(400000000000, 0))  # year ~14700: beyond datetime
    assert far == msgpack.Timestamp(400000000000, 0)
    assert enc(fine) == ts64(1609459200, 1)  # and both go back unchanged
    assert enc(far) == ts96(400000000000, 0)


def test_timestamps_inside_containers_and_messages():
    body = b"\x93\x02\xa7message\x91\x82\xa1a" + ts64(5, 1000) + b"\xa1b" + ts64(5, 1)
    msg = decode_message(body)
    assert msg[2][0] == {"a": datetime.datetime(1970, 1, 1, 0, 0, 5, 1, tzinfo=UTC),
                         "b": msgpack.Timestamp(5, 1)}


def test_aware_datetimes_encode_as_the_same_instant():
    paris = datetime.timezone(datetime.timedelta(hours=1))
    local = datetime.datetime(2021, 1, 1, 1, 0, tzinfo=paris)
    assert enc(local) == bytes.fromhex("d6ff5fee6600")
    assert decode_value(enc(local)) == local


def test_naive_datetimes_are_refused_with_a_hint():
    with pytest.raises(EncodeError, match="without a timezone"):
        enc([datetime.datetime(2021, 1, 1)])


def test_ints_beyond_64_bits_are_a_clear_error():
    with pytest.raises(EncodeError, match=r"the int 18446744073709551616, outside"):
        enc({"n": 2 ** 64})
    with pytest.raises(EncodeError, match=r"the int -9223372036854775809"):
        enc([-(2 ** 63) - 1])
    assert decode_value(enc(2 ** 64 - 1)) == 2 ** 64 - 1
    assert decode_value(enc(-(2 ** 63))) == -(2 ** 63)


def test_unsupported_types_name_themselves():
    class Point:
        pass

    with pytest.raises(EncodeError, match="an object of type .*Point"):
        enc({"p": Point()})
    with pytest.raises(EncodeError, match="not valid UTF-8"):
        enc("\udcff")


def test_encode_errors_name_the_path_of_the_bad_value():
    class Odd:
        pass

    def hook(obj):
        if isinstance(obj, Odd):
            raise KeyError("odd")
        raise TypeError("declined")

    def err(v, default=None, max_values=None):
        kw = {} if max_values is None else {"max_values": max_values}
        with pytest.raises(EncodeError) as info:
            Encoder(default=default, **kw).encode(v, "it")
        return str(info.value)

    # A bare value is "value"; the parts of a message are "params", "result" and "error".
    assert "an object of type test_codec.%s at value['a'][1]; " % (
        "test_encode_errors_name_the_path_of_the_bad_value.<locals>.Odd") in err({"a": [1, Odd()]})
    assert "at result[0]['k'][2][0]; " in err([1, 7, None, [{"k": (0, 1, {Odd()})}]])
    assert "at params[1]; " in err([0, 7, "m", [1, Odd()]])
    assert "at params[0]['it\\'s']; " in err([2, "note", [{"it's": Odd()}]])
    assert "at error['data']; " in err([1, 7, {"type": "T", "message": "m", "data": Odd()},
                                         None])
    assert "at value[0] (a map key); " in err([{Odd(): 1}])
    assert ("the int 18446744073709551616, outside the range msgpack can carry "
            "(-2**63 to 2**64-1) at value[1]") in err([0, 2 ** 64])
    assert "a str that is not valid UTF-8 (surrogates not allowed) at value[2]" in err(
        ["a", "b", "\udcff"])
    assert "a datetime without a timezone (2021-01-01 00:00:00) at value['t']: " in err(
        {"t": datetime.datetime(2021, 1, 1)})
    assert ("at value[1]; the encoder hook (polyfork.encoder) raised KeyError: 'odd'"
            in err([1, Odd()], hook))
    deep = {"k": []}
    for _ in range(140):
        deep = [deep]
    path = "value" + "[0]" * 128
    assert "containers nested deeper than 128 at %s (the message" % (
        path[:40] + "..." + path[-12:]) in err(deep)
    assert ("more than 9 msgpack values, the maximum for one frame (POLYFORK_MAX_VALUES): "
            "the container at params[1] brings the count to 10") in err(
                [2, "message", [[1, 2], {"a": 1}]], max_values=9)


def test_python_only_shapes_map_to_msgpack():
    assert enc((1, 2)) == enc([1, 2])
    assert enc(bytearray(b"ab")) == enc(b"ab") == b"\xc4\x02ab"
    assert enc(msgpack.ExtType(5, b"x")) == b"\xd4\x05x"
    assert decode_value(enc({True: 1, None: 2, 1.5: 3, b"k": 4})) == {True: 1, None: 2, 1.5: 3,
                                                                      b"k": 4}


def test_nesting_limit_counts_the_message_array():
    def nest(n):
        v = []
        for _ in range(n - 1):
            v = [v]
        return v

    enc(nest(128))
    with pytest.raises(EncodeError, match="nested deeper than 128"):
        enc(nest(129))
    with pytest.raises(EncodeError, match="nested deeper than 128"):
        enc({"k": (nest(128),)})
    decode_value(msgpack.packb(nest(128)))
    with pytest.raises(ProtocolError, match="nested deeper than 128"):
        decode_value(msgpack.packb(nest(129)))


def test_values_python_cannot_hold_fail_alone():
    with pytest.raises(DecodeError, match="map key"):
        decode_value(b"\x81\x91\x01\x02")  # {[1]: 2}
    with pytest.raises(DecodeError, match="not valid UTF-8"):
        decode_value(b"\xa2\xff\xfe")
    with pytest.raises(ValueProblem) as info:
        decode_message(b"\x94\x00\x07\xa4echo\x91\x81\x91\x01\x02")
    assert info.value.message[:3] == [0, 7, "echo"]


def test_garbage_is_a_protocol_error_not_a_crash():
    for body in [b"\xc1", b"\x94\x00", b"\xdd\xff\xff\xff\xff", b"\x92\x01\x02\x03",
                 b"\x94\x00\x01\xa1m\x80", b"\x93\x02\xc0\x90", b"\xd5\xff\x00\x00"]:
        with pytest.raises(ProtocolError):
            decode_message(body)


def test_frame_too_large_names_both_sizes():
    r, w = os.pipe()
    try:
        fw = FrameWriter(w, 100)
        with pytest.raises(FrameTooLargeError) as info:
            fw.write([2, "message", [b"x" * 200]], "the value given to send()")
        assert info.value.size > 200 and info.value.limit == 100
        assert "above the maximum frame size of 100 bytes" in str(info.value)
        fw.write([2, "message", [1]], "the value given to send()")  # still usable
        os.close(w)
        w = None
        assert os.read(r, 100) == b"\x00\x00\x00\x0c\x93\x02\xa7message\x91\x01"
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def test_max_frame_size_from_env(monkeypatch):
    monkeypatch.delenv("POLYFORK_MAX_FRAME_SIZE", raising=False)
    assert max_frame_size_from_env() == 64 << 20
    monkeypatch.setenv("POLYFORK_MAX_FRAME_SIZE", "1000")
    assert max_frame_size_from_env() == 1000
    for bad in ["abc", "0", "-5"]:
        monkeypatch.setenv("POLYFORK_MAX_FRAME_SIZE", bad)
        with pytest.raises(BridgeError, match="POLYFORK_MAX_FRAME_SIZE"):
            max_frame_size_from_env()


# --- the value count (SPEC section 3) ----------------------------------------------------------

# [2, "message", [[1, 2], {"a": 1}]]: the message array and its 3 fields (4), the 2 params
# (6), the array's 2 elements (8) and the map's pair (10).
TEN_VALUES = msgpack.packb([2, "message", [[1, 2], {"a": 1}]])


def test_value_count_counts_every_value_and_map_pairs_twice():
    assert decode_message(TEN_VALUES, max_values=10) == [2, "message", [[1, 2], {"a": 1}]]
    with pytest.raises(ProtocolError, match=r"more than 9 values in one frame "
                                            r"\(POLYFORK_MAX_VALUES\): the headers read so far "
                                            r"announce 10"):
        decode_message(TEN_VALUES, max_values=9)
    with pytest.raises(ProtocolError, match="more than 9 values"):
        decode_value(TEN_VALUES, max_values=9)


def test_value_count_is_checked_before_decoding():
    # 16 MiB of empty arrays would decode to 16 million lists; the header announcing them is
    # enough to refuse the frame.
    n = 16 << 20
    body = b"\x93\x02\xa7message\x91\xdd" + n.to_bytes(4, "big") + b"\x90" * n
    with pytest.raises(ProtocolError) as info:
        decode_message(body)
    assert "more than 4194304 values in one frame" in str(info.value)
    assert "announce %d" % (n + 5) in str(info.value)


def test_bodies_with_few_values_are_not_refused_for_their_size():
    big = b"x" * (1 << 20)
    assert decode_message(msgpack.packb([2, "message", [big]]), max_values=5) == [
        2, "message", [big]]
    with pytest.raises(ProtocolError, match="more than 5 values"):
        decode_message(msgpack.packb([2, "message", [big, 1]]), max_values=5)


def test_encoder_refuses_more_values_than_the_limit():
    with pytest.raises(TooManyValuesError) as info:
        Encoder(max_values=9).encode([2, "message", [[1, 2], {"a": 1}]], "the message")
    e = info.value
    assert isinstance(e, EncodeError) and e.limit == 9 and e.count == 10
    assert "cannot send the message: it holds more than 9 msgpack values" in str(e)
    assert Encoder(max_values=10).encode([2, "message", [[1, 2], {"a": 1}]]) == TEN_VALUES


def test_writer_refuses_more_values_and_stays_usable():
    r, w = os.pipe()
    try:
        fw = FrameWriter(w, 1 << 20, max_values=100)
        with pytest.raises(TooManyValuesError, match='the params of call "x"'):
            fw.write([0, 1, "x", [list(range(200))]], 'the params of call "%s"', "x")
        fw.write([2, "message", [1]], "the value given to send()")
        os.close(w)
        w = None
        assert os.read(r, 100) == b"\x00\x00\x00\x0c\x93\x02\xa7message\x91\x01"
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def test_max_values_from_env(monkeypatch):
    monkeypatch.delenv("POLYFORK_MAX_VALUES", raising=False)
    assert max_values_from_env() == 4194304
    monkeypatch.setenv("POLYFORK_MAX_VALUES", "1000")
    assert max_values_from_env() == 1000
    for bad in ["abc", "0", "-5"]:
        monkeypatch.setenv("POLYFORK_MAX_VALUES", bad)
        with pytest.raises(BridgeError, match="POLYFORK_MAX_VALUES"):
            max_values_from_env()


def test_encoded_depth_is_checked_inside_objects_a_hook_expands():
    from polyfork._codec import check_depth

    class Box:  # stands for what an encoder hook turns into containers
        pass

    deep = []
    for _ in range(200):
        deep = [deep]
    body = msgpack.packb([1, 1, None, deep])
    with pytest.raises(EncodeError, match="nested deeper than 128"):
        check_depth([1, 1, None, Box()], body, "the result")


@pytest.mark.parametrize("raw,words", [
    (b"\xd5\xff\x00\x00", "ext -1 with 2 bytes of data"),
    (b"\xc7\x05\xff" + b"\x00" * 5, "ext -1 with 5 bytes of data"),
    (b"\xd7\xff" + (((1 << 30) - 1) << 34).to_bytes(8, "big"), "nanoseconds 1073741823"),
    (b"\xc7\x0c\xff" + (10 ** 9).to_bytes(4, "big") + b"\x00" * 8, "nanoseconds 1000000000"),
])
def test_malformed_timestamps_fail_the_value_not_the_frame(raw, words):
    with pytest.raises(DecodeError, match="malformed timestamp .*" + words):
        decode_value(b"\x92\x01" + raw)
    with pytest.raises(ValueProblem) as info:
        decode_message(b"\x94\x00\x07\xa4echo\x91" + raw)
    assert info.value.message[:3] == [0, 7, "echo"] and words in info.value.reason
    assert decode_value(ts64(5, 999999999)) == msgpack.Timestamp(5, 999999999)  # the edge is fine


@pytest.mark.parametrize("code", [-2, -3, -128])
def test_ext_types_below_minus_one_are_opaque_values_not_protocol_errors(code):
    # msgpack.ExtType refuses negative codes, so msgpack-python's default ext hook raised
    # ValueError("code must be 0~127"): the frame was a protocol error and the session ended.
    # SPEC section 3: an ext type other than -1 is delivered as an opaque value.
    data = b"\xd5" + struct.pack("b", code) + b"ab"  # fixext 2
    v = decode_value(data)
    assert isinstance(v, msgpack.ExtType) and v == (code, b"ab")
    assert enc(v) == data  # and it goes back as it came
    body = b"\x94\x00\x01\xa4echo\x91" + data
    assert decode_message(body) == [0, 1, "echo", [v]]


def _written(fill, max_frame=1 << 20, max_values=1000):
    """The bytes a FrameWriter on a temporary file writes while fill(writer) runs."""
    with tempfile.TemporaryFile() as f:
        fw = FrameWriter(f.fileno(), max_frame, max_values=max_values)
        fill(fw)
        fw.flush()
        f.seek(0)
        return f.read()


def test_respond_writes_the_bytes_of_the_response_list():
    # respond packs only the result and makes the head with struct: the frames must be
    # those of write and defer of [1, id, None, result], for ids of every width in msgpack's
    # shortest form, results that need the checks or a write of their own, and kept frames.
    ids = [0, 1, 127, 128, 255, 256, 65535, 65536, 1000001, 0xFFFFFFFF]
    results = [None, "x" * 16, "é" * 100, [[1, [2]], {"a": b"b"}] * 20, "y" * 70000]
    for more in (False, True):
        def by_list(fw):
            for i in ids:
                for r in results:
                    (fw.defer if more else fw.write)([1, i, None, r], "r")

        def by_respond(fw):
            for i in ids:
                for r in results:
                    fw.respond(i, r, more, "r")

        assert _written(by_respond) == _written(by_list)


def test_respond_refuses_as_write_does():
    def fill(fw):
        with pytest.raises(FrameTooLargeError) as big:
            fw.respond(7, "x" * 200, False, 'the result of handler "%s"', "h")
        assert str(big.value) == ('polyfork: cannot send the result of handler "h": it encodes '
                                  'to 206 bytes, above the maximum frame size of 100 bytes '
                                  '(POLYFORK_MAX_FRAME_SIZE)')
        with pytest.raises(TooManyValuesError, match='the result of handler "h"'):
            fw.respond(7, list(range(20)), True, 'the result of handler "%s"', "h")
        with pytest.raises(EncodeError, match='the result of handler "h"'):
            fw.respond(7, object(), True, 'the result of handler "%s"', "h")
        fw.respond(7, 1, False, "r")

    assert _written(fill, 100, max_values=10) == b"\x00\x00\x00\x05\x94\x01\x07\xc0\x01"
