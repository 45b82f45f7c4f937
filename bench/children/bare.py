"""A bare length-prefixed msgpack echo: the least a Python child can do per message.

No handshake, no ids, no handlers: read a frame, unpack it, pack the value, write it back.
It is the floor that the polyfork Python client is compared with (issue 5's "bare exchange").
"""
import os
import struct

import msgpack

HEAD = struct.Struct(">I")


def main():
    buf = b""
    while True:
        data = os.read(0, 1 << 20)
        if not data:
            return
        buf += data
        while len(buf) >= 4:
            (n,) = HEAD.unpack_from(buf)
            if len(buf) < 4 + n:
                break
            value = msgpack.unpackb(buf[4:4 + n])
            buf = buf[4 + n:]
            out = msgpack.packb(value)
            os.write(1, HEAD.pack(len(out)) + out)


main()
