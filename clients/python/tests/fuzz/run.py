"""Feeds fuzz inputs to the library's frame reader and decoders, in a process of its own.

    python3 run.py TARGET FILE...        (TARGET: FuzzDecodeMessage, FuzzDecodeValue,
                                          FuzzFrameReader, or "any" for all three)

Prints one JSON line per input: {"file", "index", "target", "outcome", "detail"}, where the
outcome is "decoded", "refused" (ProtocolError), "value" (a well-formed message holding a
value Python cannot hold, which fails only that message: ValueProblem or DecodeError) or
"other" (any other exception: a bug). The test runs this under a memory limit and a time
guard, so a hang or an unbounded allocation fails the test too.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..", "src")))
sys.path.insert(0, HERE)

from gocorpus import read  # noqa: E402
from polyfork import DecodeError, ProtocolError  # noqa: E402
from polyfork._channel import DEFAULT_MAX_FRAME_SIZE, FrameReader  # noqa: E402
from polyfork._codec import ValueProblem, decode_message, decode_value  # noqa: E402


def frames(data):
    """Reads data as a stream of frames from a pipe, decoding each; raises what they raise."""
    r, w = os.pipe()
    got = []

    def on_frame(body, more):
        try:
            got.append(decode_message(body))
        except ValueProblem:
            got.append(None)

    try:
        os.set_blocking(w, False)
        view = memoryview(data)
        reader = FrameReader(r, DEFAULT_MAX_FRAME_SIZE, on_frame)
        while view:  # the pipe holds 64 KiB: write and read in turns
            view = view[os.write(w, view[:65536]):]
            if not view:
                os.close(w)
                w = None
            while reader.read_once():
                if view:
                    break
        if w is not None:
            os.close(w)
            w = None
            while reader.read_once():
                pass
        return len(got)
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


TARGETS = {
    "FuzzDecodeMessage": decode_message,
    "FuzzDecodeValue": decode_value,
    "FuzzFrameReader": frames,
}


def outcome(fn, data):
    try:
        fn(data)
        return "decoded", ""
    except ProtocolError as e:
        return "refused", str(e)[:200]
    except (ValueProblem, DecodeError) as e:
        return "value", str(e)[:200]
    except Exception as e:  # the bug this looks for
        return "other", "%s: %s" % (type(e).__name__, str(e)[:200])


def main(target, paths):
    names = list(TARGETS) if target == "any" else [target]
    for path in paths:
        for i, data in enumerate(read(path)):
            for name in names:
                kind, detail = outcome(TARGETS[name], data)
                print(json.dumps({"file": path, "index": i, "target": name, "outcome": kind,
                                  "detail": detail}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
