"""A bare length-prefixed msgpack echo: the least a Python child can do per message.

No handshake, no ids, no handlers: read a frame, unpack it, pack the value, write it back,
through the buffered stdin and stdout every Python program has. It is the floor that the
polyfork Python client is compared with (the "bare exchange").
"""
import struct
import sys

import msgpack

HEAD = struct.Struct(">I")


def main():
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = inp.read(4)
        if len(head) < 4:
            return
        body = msgpack.packb(msgpack.unpackb(inp.read(HEAD.unpack(head)[0])))
        out.write(HEAD.pack(len(body)))
        out.write(body)
        out.flush()


main()
