"""A test child that reports how many page faults freeing and reusing big buffers costs."""
import resource

import polyfork


@polyfork.handle("echo")
def echo(v):
    return v


def _cycle():
    # The buffers of one 1 MiB message: the frame read, the decoded value, the answer.
    frame = bytearray(1 << 20)
    value = bytes(frame).decode()
    answer = value.encode() + b"x" * 65536
    del frame, value, answer


@polyfork.handle("faults_per_cycle")
def faults_per_cycle():
    for _ in range(3):
        _cycle()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        _cycle()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20


polyfork.run()
