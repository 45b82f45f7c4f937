"""A child that speaks the polyfork protocol by hand, with msgpack and nothing else.

The bridge tests use it to make a real child behave well, or misbehave on purpose, in ways
a client library never would. Usage: python3 rawchild.py MODE [ARG...]. See MODES below.
"""
import os
import signal
import struct
import subprocess
import sys
import threading
import time

import msgpack

OUT = sys.stdout.buffer
IN = sys.stdin.buffer
LOCK = threading.Lock()
HOG = []


def write_raw(b):
    with LOCK:
        OUT.write(b)
        OUT.flush()


def frame(value):
    body = msgpack.packb(value, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


def send(value):
    write_raw(frame(value))


def ready(version=1):
    send([2, "$ready", [{"protocol": version, "lang": "python-raw", "pid": os.getpid(), "lib": "rawchild"}]])


def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = IN.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_message():
    head = read_exact(4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    body = read_exact(n)
    if body is None:
        return None
    return msgpack.unpackb(body, raw=False, strict_map_key=False)


def sleep_forever():
    while True:
        time.sleep(3600)


# --- a well-behaved server, with threads so that calls can overlap --------------------------

class Server:
    def __init__(self):
        self.cancels = {}
        self.threads = []
        self.next_id = 0
        self.host_calls = {}
        self.host_lock = threading.Lock()

    def call_host(self, method, params):
        with self.host_lock:
            self.next_id += 1
            cid = self.next_id
            ev = threading.Event()
            self.host_calls[cid] = [ev, None]
        send([0, cid, method, params])
        ev.wait()
        err, result = self.host_calls.pop(cid)[1]
        if err is not None:
            raise RuntimeError("host error %s: %s" % (err.get("type"), err.get("message")))
        return result

    def handle(self, mid, method, params):
        try:
            result = self.dispatch(mid, method, params)
            send([1, mid, None, result])
        except Cancelled:
            send([2, "cancelled", [params[0]]])
            send([1, mid, {"type": "CancelledError", "message": "cancelled"}, None])
        except KeyError:
            send([1, mid, {"type": "MethodNotFound", "message": 'no handler for method "%s"' % method}, None])
        except Exception as e:  # noqa: BLE001 - report every failure to the host
            send([1, mid, {"type": type(e).__name__, "message": str(e), "traceback": "raw traceback"}, None])

    def dispatch(self, mid, method, params):
        if method == "echo":
            return params[0]
        if method == "add":
            return params[0] + params[1]
        if method == "fail":
            raise ValueError(params[0])
        if method == "sleep":
            ev = self.cancels[mid]
            if ev.wait(params[0] / 1000.0):
                raise Cancelled()
            return "slept"
        if method == "call_host":
            return self.call_host(params[0], params[1])
        if method == "pid":
            return os.getpid()
        if method == "exit":
            sys.stderr.write("exiting with %d on request\n" % params[0])
            sys.stderr.flush()
            os._exit(params[0])
        if method == "stderr":
            sys.stderr.write(params[0] + "\n")
            sys.stderr.flush()
            return True
        if method == "spawn_grandchild":
            # A grandchild in our process group that would outlive us if nobody killed it.
            child = subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return child.pid
        if method == "big":
            return b"x" * params[0]
        if method == "hog":
            HOG.append(bytearray(params[0] << 20))  # bytearray() zero-fills: the pages are touched
            return len(HOG)
        if method == "crash_if_first":
            # The first call anywhere crashes its worker; later ones succeed.
            try:
                fd = os.open(params[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return "ok"
            os.close(fd)
            os._exit(1)
        raise KeyError(method)

    def serve(self):
        while True:
            msg = read_message()
            if msg is None:
                break
            kind = msg[0]
            if kind == 0:
                _, mid, method, params = msg
                self.cancels[mid] = threading.Event()
                t = threading.Thread(target=self.handle, args=(mid, method, params), daemon=True)
                self.threads.append(t)
                t.start()
            elif kind == 1:
                _, cid, err, result = msg
                with self.host_lock:
                    entry = self.host_calls.get(cid)
                if entry:
                    entry[1] = (err, result)
                    entry[0].set()
            elif kind == 2:
                _, method, params = msg
                if method == "$cancel":
                    ev = self.cancels.get(params[0])
                    if ev:
                        ev.set()
                elif method == "$stop":
                    break
                elif method == "message":
                    send([2, "message", params])
        for t in self.threads:
            t.join()
        sys.exit(0)


class Cancelled(Exception):
    pass


# --- misbehaviours ----------------------------------------------------------------------------

def mode_serve():
    ready()
    Server().serve()


def mode_garbage():
    OUT.write(b"Hello, I am printing to stdout like a normal program\n")
    OUT.flush()
    sleep_forever()


def mode_garbage_after_ready():
    ready()
    OUT.write(b"oops, a stray print\n")
    OUT.flush()
    sleep_forever()


def mode_huge_prefix():
    ready()
    write_raw(b"\xff\xff\xff\xff")
    sleep_forever()


def mode_half_frame():
    ready()
    write_raw(struct.pack(">I", 100) + b"\x94\x01\x01\xc0" + b"\x00" * 6)
    sys.exit(0)


def mode_bomb(body_hex):
    ready()
    body = bytes.fromhex(body_hex)
    write_raw(struct.pack(">I", len(body)) + body)
    sleep_forever()


def mode_not_rpc():
    ready()
    send([5, "what", []])
    sleep_forever()


def mode_no_ready():
    sleep_forever()


def mode_die_before_ready():
    sys.stderr.write("loading model...\nfatal: cannot load model weights.bin\n")
    sys.stderr.flush()
    sys.exit(3)


def mode_wrong_version():
    ready(version=2)
    # wait for the host to stop us, as a child of another version would
    while read_message() is not None:
        pass
    sys.exit(0)


def mode_ignore_term():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready()
    sleep_forever()


def mode_close_stdout():
    ready()
    OUT.flush()
    os.close(1)
    sleep_forever()


def mode_close_stdin():
    ready()
    os.close(0)
    Server().serve()


def mode_unknown_response():
    ready()
    send([1, 999, None, "surprise"])
    sleep_forever()


def mode_exit_after_ready(code):
    ready()
    sys.stderr.write("something went wrong, exiting with %s\n" % code)
    sys.stderr.flush()
    sys.exit(int(code))


def mode_spam_stderr(n):
    ready()
    for i in range(int(n)):
        sys.stderr.write("line %d\n" % i)
    sys.stderr.write("no newline at the end")
    sys.stderr.flush()
    Server().serve()


def mode_flaky(path):
    """Serves, unless path exists: then it dies before $ready, like a broken deploy."""
    if os.path.exists(path):
        sys.stderr.write("flaky: %s exists, refusing to start\n" % path)
        sys.stderr.flush()
        sys.exit(2)
    mode_serve()


def mode_bad_ready():
    send([2, "$ready", ["not a map"]])
    sleep_forever()


def mode_request_first():
    send([0, 1, "hello", []])
    sleep_forever()


MODES = {
    "serve": mode_serve,
    "garbage": mode_garbage,
    "garbage_after_ready": mode_garbage_after_ready,
    "huge_prefix": mode_huge_prefix,
    "half_frame": mode_half_frame,
    "bomb": mode_bomb,
    "not_rpc": mode_not_rpc,
    "no_ready": mode_no_ready,
    "die_before_ready": mode_die_before_ready,
    "wrong_version": mode_wrong_version,
    "ignore_term": mode_ignore_term,
    "close_stdout": mode_close_stdout,
    "close_stdin": mode_close_stdin,
    "unknown_response": mode_unknown_response,
    "exit_after_ready": mode_exit_after_ready,
    "spam_stderr": mode_spam_stderr,
    "bad_ready": mode_bad_ready,
    "flaky": mode_flaky,
    "request_first": mode_request_first,
}

if __name__ == "__main__":
    MODES[sys.argv[1]](*sys.argv[2:])
