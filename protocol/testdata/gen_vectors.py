#!/usr/bin/env python3
"""Regenerates the golden vectors in this folder.

The bytes come from the Python msgpack library, an encoder independent of the Go host, and
every vector is then checked by the Go, Python, PHP and Node test suites. Run it only when
adding vectors, and review the diff: these files are the contract.

    python3 protocol/testdata/gen_vectors.py
"""
import json
import math
import os
import struct

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))


def pack(v):
    return msgpack.packb(v, use_bin_type=True)


# --- tagged values -----------------------------------------------------------------------

def t_nil():
    return {"type": "nil"}


def t_bool(b):
    return {"type": "bool", "value": b}


def t_int(i):
    return {"type": "int", "value": str(i)}


def t_f64(x, text=None):
    bits = struct.pack(">d", x).hex()
    return {"type": "float64", "bits": bits, "value": text or repr(x)}


def t_f32(x, text=None):
    bits = struct.pack(">f", x).hex()
    return {"type": "float32", "bits": bits, "value": text or repr(x)}


def t_str(s):
    return {"type": "str", "value": s}


def t_bin(b):
    return {"type": "bin", "hex": b.hex()}


def t_arr(*items):
    return {"type": "array", "items": list(items)}


def t_repeat(n, item):
    """An array of n copies of item, written short so the JSON stays small."""
    return {"type": "array", "repeat": n, "item": item}


def t_map(*entries):
    return {"type": "map", "entries": [list(e) for e in entries]}


def t_ext(code, data):
    return {"type": "ext", "ext_type": code, "hex": data.hex()}


class F32(float):
    """A float that must be encoded as msgpack float32."""


def items_of(t):
    if "repeat" in t:
        return [t["item"]] * t["repeat"]
    return t["items"]


def to_py(t):
    """Turns a tagged value into the Python value msgpack should encode."""
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
        return F32(struct.unpack(">f", bytes.fromhex(t["bits"]))[0])
    if ty == "str":
        return t["value"]
    if ty == "bin":
        return bytes.fromhex(t["hex"])
    if ty == "array":
        return [to_py(x) for x in items_of(t)]
    if ty == "map":
        # Keys must be hashable: only str and int keys are used in the vectors.
        return {to_py(k): to_py(v) for k, v in t["entries"]}
    if ty == "ext":
        if t["ext_type"] == -1:
            return msgpack.Timestamp.from_bytes(bytes.fromhex(t["hex"]))
        # msgpack.ExtType() refuses the types -128..-2, which the SPEC delivers as opaque
        # values like any other: build the tuple without that check (it packs as it is).
        return tuple.__new__(msgpack.ExtType, (t["ext_type"], bytes.fromhex(t["hex"])))
    raise ValueError(ty)


def encode_tagged(t):
    """Encodes a tagged value, honouring float32 (msgpack-python has no per-value switch)."""
    ty = t["type"]
    if ty == "float32":
        return b"\xca" + bytes.fromhex(t["bits"])
    if ty == "array":
        items = items_of(t)
        n = len(items)
        head = pack([None] * n)[: -n] if n else pack([])
        return head + b"".join(encode_tagged(x) for x in items)
    if ty == "map":
        n = len(t["entries"])
        if n == 0:
            return pack({})
        # header only: pack a map of n distinct int keys and cut the body away
        full = pack({i: None for i in range(n)})
        body = b"".join(pack(i) + pack(None) for i in range(n))
        head = full[: len(full) - len(body)]
        return head + b"".join(encode_tagged(k) + encode_tagged(v) for k, v in t["entries"])
    return pack(to_py(t))


VALUES = [
    # name, tagged value, features
    ("nil", t_nil(), []),
    ("false", t_bool(False), []),
    ("true", t_bool(True), []),
    ("int 0", t_int(0), []),
    ("int 1", t_int(1), []),
    ("positive fixint max 127", t_int(127), []),
    ("uint8 128", t_int(128), []),
    ("uint8 max 255", t_int(255), []),
    ("uint16 256", t_int(256), []),
    ("uint16 max 65535", t_int(65535), []),
    ("uint32 65536", t_int(65536), []),
    ("uint32 max 4294967295", t_int(4294967295), []),
    ("uint64 4294967296", t_int(4294967296), []),
    ("2^53-1 (max safe JS integer)", t_int(2**53 - 1), []),
    ("2^53 (first unsafe JS integer)", t_int(2**53), ["bigint"]),
    ("int64 max 9223372036854775807", t_int(2**63 - 1), ["bigint"]),
    ("uint64 9223372036854775808", t_int(2**63), ["uint64", "bigint"]),
    ("uint64 max 18446744073709551615", t_int(2**64 - 1), ["uint64", "bigint"]),
    ("negative fixint -1", t_int(-1), []),
    ("negative fixint min -32", t_int(-32), []),
    ("int8 -33", t_int(-33), []),
    ("int8 min -128", t_int(-128), []),
    ("int16 -129", t_int(-129), []),
    ("int16 min -32768", t_int(-32768), []),
    ("int32 -32769", t_int(-32769), []),
    ("int32 min -2147483648", t_int(-2147483648), []),
    ("int64 -2147483649", t_int(-2147483649), []),
    ("-(2^53-1) (min safe JS integer)", t_int(-(2**53 - 1)), []),
    ("int64 min -9223372036854775808", t_int(-(2**63)), ["bigint"]),
    ("float64 0.0", t_f64(0.0), ["integral-float"]),
    ("float64 -0.0", t_f64(-0.0, "-0.0"), ["integral-float"]),
    ("float64 1.0 stays a float", t_f64(1.0), ["integral-float"]),
    ("float64 1.5", t_f64(1.5), []),
    ("float64 0.1", t_f64(0.1), []),
    ("float64 -3.25e300", t_f64(-3.25e300), ["integral-float"]),
    ("float64 smallest subnormal", t_f64(5e-324), []),
    ("float64 max", t_f64(1.7976931348623157e308), ["integral-float"]),
    ("float64 +Inf", t_f64(math.inf, "Infinity"), []),
    ("float64 -Inf", t_f64(-math.inf, "-Infinity"), []),
    ("float64 NaN", t_f64(math.nan, "NaN"), []),
    ("float32 1.5", t_f32(1.5), ["float32"]),
    ("float32 -0.0", t_f32(-0.0, "-0.0"), ["float32"]),
    ("float32 +Inf", t_f32(math.inf, "Infinity"), ["float32"]),
    ("float32 max 3.4028234663852886e38", t_f32(3.4028234663852886e38), ["float32"]),
    ("empty str", t_str(""), []),
    ("fixstr a", t_str("a"), []),
    ("fixstr max 31 bytes", t_str("x" * 31), []),
    ("str8 32 bytes", t_str("y" * 32), []),
    ("str8 max 255 bytes", t_str("z" * 255), []),
    ("str16 256 bytes", t_str("w" * 256), []),
    ("str16 max 65535 bytes", t_str("v" * 65535), []),
    ("str32 65536 bytes", t_str("u" * 65536), []),
    ("non-ASCII 2-byte UTF-8", t_str("h\u00e9llo w\u00f6rld"), []),
    ("non-ASCII CJK", t_str("\u8fdb\u7a0b\u4e0e\u7ebf\u7a0b"), []),
    ("non-ASCII emoji (4-byte UTF-8, a surrogate pair in JS)", t_str("\U0001F600 ok"), []),
    ("str with NUL", t_str("a\u0000b"), []),
    ("empty bin", t_bin(b""), ["bin"]),
    ("bin8 all byte values 0..255", t_bin(bytes(range(256))[:255]), ["bin"]),
    ("bin16 256 bytes", t_bin(bytes(range(256))), ["bin"]),
    ("bin32 65536 bytes", t_bin(bytes(65536)), ["bin"]),
    ("bin not UTF-8", t_bin(b"\xff\xfe\x00"), ["bin"]),
    ("empty array", t_arr(), []),
    ("fixarray of ints", t_arr(t_int(1), t_int(2), t_int(3)), []),
    ("fixarray max 15", t_arr(*[t_int(i) for i in range(15)]), []),
    ("array16 16 items", t_arr(*[t_int(i) for i in range(16)]), []),
    ("array16 max 65535 items", t_repeat(65535, t_nil()), []),
    ("array32 65536 items", t_repeat(65536, t_bool(True)), []),
    ("mixed array", t_arr(t_nil(), t_bool(True), t_int(-1), t_f64(2.5), t_str("s")), []),
    ("empty map", t_map(), ["empty-map"]),
    ("fixmap one str key", t_map((t_str("a"), t_int(1))), []),
    ("fixmap sorted str keys", t_map((t_str("a"), t_int(1)), (t_str("b"), t_str("two")), (t_str("c"), t_nil())), []),
    ("map16 16 keys", t_map(*[(t_str("k%02d" % i), t_int(i)) for i in range(16)]), []),
    ("map with int keys", t_map((t_int(1), t_str("one")), (t_int(2), t_str("two"))), ["int-keys"]),
    ("map with non-ASCII key", t_map((t_str("cl\u00e9"), t_str("valeur")),), []),
    ("nested map and array", t_map(
        (t_str("list"), t_arr(t_int(1), t_arr(t_int(2), t_arr(t_int(3))))),
        (t_str("map"), t_map((t_str("inner"), t_map((t_str("deep"), t_bool(False)))))),
    ), []),
    ("array of empty containers", t_arr(t_arr(), t_map(), t_str(""), t_bin(b"")), ["empty-map", "bin"]),
    ("nesting 127 arrays deep", None, []),  # filled in below
    ("fixext1 type 1", t_ext(1, b"\x2a"), ["ext"]),
    ("ext8 type 5, 3 bytes", t_ext(5, b"\x01\x02\x03"), ["ext"]),
    ("fixext2 type -2 (negative, not a timestamp)", t_ext(-2, b"ab"), ["ext"]),
    ("fixext1 type -128", t_ext(-128, b"\x00"), ["ext"]),
    ("timestamp32 2021-01-01T00:00:00Z", t_ext(-1, struct.pack(">I", 1609459200)), ["ext", "timestamp"]),
]


def deep(n):
    v = t_arr()
    for _ in range(n - 1):
        v = t_arr(v)
    return v


def build_values():
    out = []
    for name, t, features in VALUES:
        if t is None and name.startswith("nesting"):
            # With the message array and the params array around it, 126 nested arrays sit
            # at depth 128, the deepest a receiver accepts.
            t = deep(126)
            name = "nesting 126 arrays deep (depth 128 inside a message)"
        raw = encode_tagged(t)
        if not any(f in features for f in ("float32",)):
            # Cross-check: msgpack-python encodes the plain value to the same bytes.
            assert pack(to_py(t)) == raw, name
        # And decodes them back to the same value (NaN aside).
        assert msgpack.unpackb(raw, raw=False, strict_map_key=False, max_bin_len=1 << 30,
                               ext_hook=lambda c, d: tuple.__new__(msgpack.ExtType, (c, d))) is not None or t["type"] == "nil"
        out.append({"name": name, "hex": raw.hex(), "value": t, "features": features})
    return out


def frame(body):
    return struct.pack(">I", len(body)) + body


def build_messages():
    """Whole frames. Maps have sorted keys, as the Go host writes them."""
    msgs = []

    def add(name, value, message):
        msgs.append({"name": name, "hex": frame(pack(value)).hex(), "message": message})

    add("request add(1, 2)", [0, 1, "add", [1, 2]],
        {"kind": 0, "id": 1, "method": "add", "params": t_arr(t_int(1), t_int(2))})
    add("request with no params", [0, 7, "pid", []],
        {"kind": 0, "id": 7, "method": "pid", "params": t_arr()})
    add("request with the largest id", [0, 4294967295, "echo", ["x"]],
        {"kind": 0, "id": 4294967295, "method": "echo", "params": t_arr(t_str("x"))})
    add("request id 0", [0, 0, "echo", [None]],
        {"kind": 0, "id": 0, "method": "echo", "params": t_arr(t_nil())})
    add("response with a result", [1, 1, None, 3],
        {"kind": 1, "id": 1, "error": None, "result": t_int(3)})
    add("response with a nil result", [1, 2, None, None],
        {"kind": 1, "id": 2, "error": None, "result": t_nil()})
    add("response with an error", [1, 3, {"type": "ValueError", "message": "bad value"}, None],
        {"kind": 1, "id": 3, "error": {"type": "ValueError", "message": "bad value"}, "result": t_nil()})
    add("response with a full error",
        [1, 4, {"type": "ConformanceError", "message": "boom", "traceback": "Traceback...\n", "data": {"code": 7}}, None],
        {"kind": 1, "id": 4,
         "error": {"type": "ConformanceError", "message": "boom", "traceback": "Traceback...\n",
                   "data": t_map((t_str("code"), t_int(7)))},
         "result": t_nil()})
    add("response method not found",
        [1, 5, {"type": "MethodNotFound", "message": 'no handler for method "nope"'}, None],
        {"kind": 1, "id": 5, "error": {"type": "MethodNotFound", "message": 'no handler for method "nope"'},
         "result": t_nil()})
    add("notification message (send)", [2, "message", ["start"]],
        {"kind": 2, "method": "message", "params": t_arr(t_str("start"))})
    add("notification message with a map", [2, "message", [{"sum": 4999950000}]],
        {"kind": 2, "method": "message", "params": t_arr(t_map((t_str("sum"), t_int(4999950000))))})
    add("notification $ready",
        [2, "$ready", [{"lang": "python", "lib": "polyfork-python/0.1.0", "pid": 4242, "protocol": 1}]],
        {"kind": 2, "method": "$ready", "params": t_arr(t_map(
            (t_str("lang"), t_str("python")), (t_str("lib"), t_str("polyfork-python/0.1.0")),
            (t_str("pid"), t_int(4242)), (t_str("protocol"), t_int(1))))})
    add("notification $cancel", [2, "$cancel", [9]],
        {"kind": 2, "method": "$cancel", "params": t_arr(t_int(9))})
    add("notification $stop", [2, "$stop", []],
        {"kind": 2, "method": "$stop", "params": t_arr()})
    add("user notification", [2, "progress", [50, "half"]],
        {"kind": 2, "method": "progress", "params": t_arr(t_int(50), t_str("half"))})
    return msgs


def build_invalid():
    inv = []

    def add(name, framehex, reason):
        inv.append({"name": name, "hex": framehex, "reason": reason})

    def addv(name, body, reason):
        add(name, frame(body).hex(), reason)

    add("length 0", "00000000", "a frame holds one msgpack value, so N is at least 1")
    add("length 0xFFFFFFFF", "ffffffff" + "00", "N above the maximum frame size")
    add("length prefix cut short", "0000", "end of file inside the length prefix")
    add("body cut short", "0000000a" + "9400", "end of file inside the body")
    addv("not an array", pack("hello"), "a message is an array")
    addv("empty array", pack([]), "an array of 3 or 4 elements")
    addv("request with 3 elements", pack([0, 1, "m"]), "a request has 4 elements")
    addv("notification with 4 elements", pack([2, "m", [], None]), "a notification has 3 elements")
    addv("unknown kind 3", pack([3, 1, "m", []]), "kind is 0, 1 or 2")
    addv("kind as a string", pack(["0", 1, "m", []]), "kind is an integer")
    addv("negative id", pack([0, -1, "m", []]), "ids are uint32")
    addv("id above uint32", pack([0, 2**32, "m", []]), "ids are uint32")
    addv("id as a float", pack([0, 1.0, "m", []]), "ids are integers")
    addv("method as bin", pack([0, 1, b"m", []]), "method is a str")
    addv("method as nil", pack([2, None, []]), "method is a str")
    addv("params as a map", pack([0, 1, "m", {"a": 1}]), "params is an array")
    addv("params as nil", pack([2, "message", None]), "params is an array")
    addv("error as a string", pack([1, 1, "boom", None]), "error is nil or an error map")
    addv("error map without type", pack([1, 1, {"message": "m"}, None]), "an error map has a str type")
    addv("error map without message", pack([1, 1, {"type": "T"}, None]), "an error map has a str message")
    addv("trailing bytes after the message", pack([2, "message", [1]]) + b"\xc0", "one value per frame")
    addv("truncated msgpack value", bytes.fromhex("9402"), "the value is cut short inside the frame")
    addv("array32 header claiming 2^32-1 elements (decode bomb)", bytes.fromhex("ddffffffff"),
         "count larger than the bytes left")
    addv("map32 header claiming 2^32-1 pairs (decode bomb)", bytes.fromhex("93029f00") + bytes.fromhex("dfffffffff"),
         "count larger than the bytes left")
    addv("str32 claiming 4 GiB", bytes.fromhex("9302a7") + b"message" + bytes.fromhex("91dbffffffff"),
         "length larger than the bytes left")
    addv("bin32 claiming 4 GiB", bytes.fromhex("9302a7") + b"message" + bytes.fromhex("91c6ffffffff"),
         "length larger than the bytes left")
    addv("ext32 claiming 4 GiB", bytes.fromhex("9302a7") + b"message" + bytes.fromhex("91c9ffffffff01"),
         "length larger than the bytes left")
    # message array (depth 1), params array (2), then 127 more arrays: depth 129
    deep_body = bytes.fromhex("9302a7") + b"message" + b"\x91" * 128 + b"\xc0"
    addv("nesting 129 deep", deep_body, "nesting deeper than 128")
    addv("nesting 10000 deep", b"\x91" * 10000 + b"\xc0", "nesting deeper than 128")
    addv("reserved code 0xc1", bytes.fromhex("c1"), "0xc1 is never used in msgpack")
    addv("invalid UTF-8 in method", bytes.fromhex("9302a2ff fe90".replace(" ", "")), "str must be UTF-8")
    return inv


def write(name, data):
    """Writes a JSON array with one vector per line, so diffs stay readable."""
    path = os.path.join(HERE, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n")
        for i, item in enumerate(data):
            f.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")))
            f.write(",\n" if i < len(data) - 1 else "\n")
        f.write("]\n")


if __name__ == "__main__":
    write("values.json", build_values())
    write("messages.json", build_messages())
    write("invalid.json", build_invalid())
