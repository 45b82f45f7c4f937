"""A small polyfork host for the tests: it starts a real Python child and speaks frames to it.

It uses plain msgpack, not the library's codec, so the tests check the library against an
independent implementation. Every wait has a generous guard (GUARD seconds) that fails the
test instead of hanging it; nothing asserts on time.
"""
import os
import select
import struct
import subprocess
import sys
import itertools
import threading
import time

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", "src"))
CHILDREN = os.path.join(HERE, "children")
PYTHON = os.environ.get("POLYFORK_PYTHON", "python3")
GUARD = 60.0
_HDR = struct.Struct(">I")


class HostError(AssertionError):
    """The child did something the test did not expect."""


def frame(obj):
    body = msgpack.packb(obj, use_bin_type=True, datetime=True)
    return _HDR.pack(len(body)) + body


def unpack(body):
    return msgpack.unpackb(body, raw=False, strict_map_key=False, timestamp=3)


class Child:
    """One child process. Use as a context manager: it is killed and reaped on exit."""

    def __init__(self, script, *args, unbuffered=False, max_frame=None, env=None,
                 protocol_env=True, python=None, library_path=True, channel_fds=None,
                 pass_fds=(), listen_pid=False):
        """Starts script (a path, or a name in children/) with the library on its path.

        channel_fds: None for the channel on stdin/stdout; (r, w) to put it on those
        descriptor numbers of the child, through fdexec.py, with POLYFORK_CHANNEL_FDS set
        (stdin is then /dev/null and stdout a pipe read as a log, ``self.stdout``); "any"
        for descriptors of whatever numbers the pipes have here. pass_fds: a mapping
        {child fd: our fd} also moved in place (listening sockets); listen_pid sets
        LISTEN_PID to the child's pid.
        """
        path = script if os.path.isabs(script) else os.path.join(CHILDREN, script)
        e = dict(os.environ)
        e.pop("PYTHONUNBUFFERED", None)
        if unbuffered:
            e["PYTHONUNBUFFERED"] = "1"
        if library_path:  # the library from this checkout; False: as installed
            e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
        else:
            e.pop("PYTHONPATH", None)
        if protocol_env:
            e["POLYFORK_PROTOCOL"] = "1"
        else:
            e.pop("POLYFORK_PROTOCOL", None)
        if max_frame is not None:
            e["POLYFORK_MAX_FRAME_SIZE"] = str(max_frame)
        if env:
            e.update(env)
        argv = [python or PYTHON, path] + list(args)
        moves = dict(pass_fds) if pass_fds else {}
        ours = []  # the child's ends of the channel pipes, closed here once it started
        if channel_fds is not None:
            to_child_r, to_child_w = os.pipe()
            from_child_r, from_child_w = os.pipe()
            ours = [to_child_r, from_child_w]
            if channel_fds == "any":
                e["POLYFORK_CHANNEL_FDS"] = "%d,%d" % (to_child_r, from_child_w)
            else:
                moves[channel_fds[0]] = to_child_r
                moves[channel_fds[1]] = from_child_w
                e["POLYFORK_CHANNEL_FDS"] = "%d,%d" % tuple(channel_fds)
        if moves or listen_pid:
            argv = ([PYTHON, os.path.join(HERE, "fdexec.py")]
                    + (["--listen-pid"] if listen_pid else [])
                    + ["%d=%d" % kv for kv in sorted(moves.items())] + ["--"] + argv)
        inherit = sorted(set(moves.values()) | set(ours))
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL if channel_fds is not None else subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, pass_fds=inherit)
        for fd in ours:
            os.close(fd)
        if channel_fds is not None:
            self._rfd, self._wfd = from_child_r, to_child_w
            self._stdout = []
            self._stdout_thread = threading.Thread(target=self._drain, daemon=True,
                                                   args=(self.proc.stdout, self._stdout))
            self._stdout_thread.start()
        else:
            self._rfd, self._wfd = self.proc.stdout.fileno(), self.proc.stdin.fileno()
            self._stdout, self._stdout_thread = None, None
        self._channel_fds = channel_fds
        self._buf = b""
        self._stderr = []
        self._stderr_thread = threading.Thread(target=self._drain, daemon=True,
                                               args=(self.proc.stderr, self._stderr))
        self._stderr_thread.start()
        self.inbox = []  # messages read while waiting for something else
        self.host_handlers = {}
        self.ready = None
        self._ids = itertools.count(1000)

    @staticmethod
    def _drain(f, lines):
        for line in f:
            lines.append(line.decode("utf-8", "replace"))

    @property
    def stderr(self):
        """Everything the child wrote to stderr so far (complete after wait())."""
        return "".join(self._stderr)

    @property
    def stdout(self):
        """With the channel on descriptors: everything the child wrote to its stdout, a log."""
        return "".join(self._stdout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self._channel_fds is not None:
            for fd in (self._rfd, self._wfd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._stdout_thread.join(GUARD)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        self._stderr_thread.join(GUARD)
        self.proc.stderr.close()

    # --- raw frames ------------------------------------------------------------------------

    def _read_exact(self, n):
        deadline = time.monotonic() + GUARD
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HostError("guard: no frame from the child within %ss; stderr:\n%s"
                                % (GUARD, self.stderr))
            r, _, _ = select.select([self._rfd], [], [], left)
            if not r:
                continue
            chunk = os.read(self._rfd, 1 << 20)
            if not chunk:
                return None
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read_frame(self):
        """Returns the next frame body, or None at a clean end of the child's stdout."""
        head = self._read_exact(4)
        if head is None:
            if self._buf:
                raise HostError("child stdout ended inside a length prefix: %r" % self._buf)
            return None
        (n,) = _HDR.unpack(head)
        body = self._read_exact(n)
        if body is None:
            raise HostError("child stdout ended inside a frame body (%d bytes announced)" % n)
        return body

    def read_msg(self):
        """Returns the next message (a list), or None at end of file."""
        body = self.read_frame()
        return None if body is None else unpack(body)

    def write_raw(self, data):
        """Writes bytes to the child's stdin; fails (never hangs) if it stops reading."""
        fd = self._wfd
        os.set_blocking(fd, False)
        view = memoryview(data)
        deadline = time.monotonic() + GUARD
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HostError("guard: the child stopped reading its stdin; stderr:\n%s"
                                % self.stderr)
            _, w, _ = select.select([], [fd], [], left)
            if w:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    pass

    def write(self, obj):
        self.write_raw(frame(obj))

    def close_stdin(self):
        """Closes the channel's host-to-child side (stdin, or its descriptor): end of file."""
        if self._channel_fds is not None:
            if self._wfd >= 0:
                os.close(self._wfd)
                self._wfd = -1
        else:
            self.proc.stdin.close()

    def wait(self):
        """Waits for the child to exit; returns the exit status."""
        try:
            code = self.proc.wait(GUARD)
        except subprocess.TimeoutExpired:
            raise HostError("guard: the child did not exit within %ss; stderr:\n%s"
                            % (GUARD, self.stderr))
        self._stderr_thread.join(GUARD)
        if self._stdout_thread is not None:
            self._stdout_thread.join(GUARD)
        return code

    def wait_rusage(self):
        """Waits for the child to exit; returns (exit status, resource usage of the child)."""
        deadline = time.monotonic() + GUARD
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                raise HostError("guard: the child did not exit within %ss; stderr:\n%s"
                                % (GUARD, self.stderr))
            time.sleep(0.01)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._stderr_thread.join(GUARD)
        if self._stdout_thread is not None:
            self._stdout_thread.join(GUARD)
        return self.proc.returncode, usage

    # --- protocol --------------------------------------------------------------------------

    def expect_ready(self):
        msg = self.read_msg()
        if not (isinstance(msg, list) and msg[:2] == [2, "$ready"]):
            raise HostError("the first frame is not $ready: %r; stderr:\n%s" % (msg, self.stderr))
        self.ready = msg[2][0]
        return self.ready

    def next_msg(self):
        """The next message that is not a request from the child (those are answered)."""
        while True:
            if self.inbox:
                return self.inbox.pop(0)
            msg = self.read_msg()
            if msg is None:
                return None
            if msg[0] == 0 and msg[2] in self.host_handlers:
                self._answer(msg)
                continue
            return msg

    def _answer(self, msg):
        _, msgid, method, params = msg
        try:
            result = self.host_handlers[method](*params)
        except Exception as e:
            self.write([1, msgid, {"type": type(e).__name__, "message": str(e),
                                   "traceback": "host traceback", "data": {"k": 1}}, None])
        else:
            self.write([1, msgid, None, result])

    def request(self, msgid, method, *params):
        self.write([0, msgid, method, list(params)])

    def wait_for(self, pred, what="a message"):
        """Reads until pred(msg) holds; other messages are kept in order in the inbox."""
        kept = []
        try:
            while True:
                msg = self.read_msg()
                if msg is None:
                    raise HostError("end of file while waiting for %s; kept %r; stderr:\n%s"
                                    % (what, kept, self.stderr))
                if msg[0] == 0 and msg[2] in self.host_handlers:
                    self._answer(msg)
                    continue
                if pred(msg):
                    return msg
                kept.append(msg)
        finally:
            self.inbox.extend(kept)

    def response(self, msgid):
        """Waits for the response to msgid; returns (error, result)."""
        for i, m in enumerate(self.inbox):
            if m[0] == 1 and m[1] == msgid:
                del self.inbox[i]
                return m[2], m[3]
        m = self.wait_for(lambda m: m[0] == 1 and m[1] == msgid, "response %d" % msgid)
        return m[2], m[3]

    def call(self, method, *params, msgid=None):
        """Calls the child and returns the result; raises HostError on an error response."""
        if msgid is None:
            msgid = next(self._ids)
        self.request(msgid, method, *params)
        err, result = self.response(msgid)
        if err is not None:
            raise HostError("call %s failed: %r" % (method, err))
        return result


def python():
    """The interpreter the children run with (POLYFORK_PYTHON, default python3)."""
    return PYTHON


def run_python(code, **kw):
    """Runs a snippet in the child interpreter with the library on its path."""
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC
    return subprocess.run([PYTHON, "-c", code], env=e, capture_output=True, timeout=GUARD, **kw)


__all__ = ["Child", "HostError", "frame", "unpack", "python", "run_python", "SRC", "HERE"]
sys.modules.setdefault("pfhost", sys.modules[__name__])
