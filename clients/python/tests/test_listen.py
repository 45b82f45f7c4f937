"""Inherited listening sockets (SPEC 1.2): polyfork.listen_sockets() and the WSGI example.

The sockets are made here and passed the way a polyfork host or systemd passes them: on
descriptors 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set to the pid of the
process they are for.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

import venvs
from pfhost import GUARD, HERE, PYTHON, SRC, Child

EXAMPLE_DIR = os.path.normpath(os.path.join(HERE, "..", "examples"))


def has_ipv6():
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
        return True
    except OSError:
        return False


@pytest.fixture
def sockets(tmp_path):
    """Listening sockets of every family: [(name, socket, address to connect to)]."""
    made = []
    s = socket.create_server(("127.0.0.1", 0))
    made.append(("tcp4", s, s.getsockname()))
    if has_ipv6():
        s = socket.create_server(("::1", 0), family=socket.AF_INET6)
        made.append(("tcp6", s, s.getsockname()))
    path = str(tmp_path / "http.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen()
    made.append(("unix", s, path))
    yield made
    for _, s, _ in made:
        s.close()


def listen_env(made, **extra):
    env = {"LISTEN_FDS": str(len(made)), "LISTEN_FDNAMES": ":".join(n for n, _, _ in made)}
    env.update(extra)
    return env


def passed(made):
    return {3 + i: s.fileno() for i, (_, s, _) in enumerate(made)}


def talk(family_name, address, text):
    family = socket.AF_UNIX if family_name == "unix" else (
        socket.AF_INET6 if family_name == "tcp6" else socket.AF_INET)
    c = socket.socket(family)
    c.settimeout(GUARD)
    c.connect(address)
    c.sendall(text)
    return c


FAMILIES = {"tcp4": "AF_INET", "tcp6": "AF_INET6", "unix": "AF_UNIX"}


@pytest.mark.parametrize("channel", [None, "fds"])
def test_a_child_takes_its_sockets_under_a_host(sockets, channel):
    n = len(sockets)
    channel_fds = (3 + n, 4 + n) if channel else None  # after the sockets, as SPEC 1.2 says
    with Child("listen.py", env=listen_env(sockets), pass_fds=passed(sockets), listen_pid=True,
               channel_fds=channel_fds) as c:
        c.expect_ready()
        got = c.call("sockets")
        assert got["env"] == {}  # LISTEN_* removed once taken
        assert [s[:4] for s in got["sockets"]] == [
            [name, FAMILIES[name], "SOCK_STREAM", 3 + i] for i, (name, _, _) in enumerate(sockets)]
        assert all(s[4] is False for s in got["sockets"])  # close-on-exec
        for name, _, address in sockets:
            conn = talk(name, address, b"hello " + name.encode())
            assert c.call("serve_one", name) is True
            assert conn.recv(100) == b"%d:hello %s" % (c.proc.pid, name.encode())
            conn.close()
        c.close_stdin()
        assert c.wait() == 0


@pytest.mark.parametrize("nonblocking", [True, False])
def test_a_socket_reports_the_mode_it_was_passed_in(sockets, nonblocking):
    # A polyfork host passes its sockets non-blocking (a mode every worker shares); a
    # launcher such as systemd passes them blocking by default. Python must see each as it is.
    for _, s, _ in sockets:
        s.setblocking(not nonblocking)
    with Child("listen.py", env=listen_env(sockets), pass_fds=passed(sockets), listen_pid=True) as c:
        c.expect_ready()
        got = c.call("sockets")
        assert [s[5] for s in got["sockets"]] == [0.0 if nonblocking else None] * len(sockets)
        c.close_stdin()
        assert c.wait() == 0


def test_sockets_meant_for_another_pid_are_left_alone(sockets):
    with Child("listen.py", env=listen_env(sockets, LISTEN_PID="1"),
               pass_fds=passed(sockets)) as c:
        c.expect_ready()
        got = c.call("sockets")
        assert got["sockets"] == []
        assert got["env"] == listen_env(sockets, LISTEN_PID="1")
        c.close_stdin()
        assert c.wait() == 0


def test_the_conformance_child_lists_its_listeners(sockets):
    with Child(os.path.join(HERE, "conformance_child.py"), env=listen_env(sockets),
               pass_fds=passed(sockets), listen_pid=True) as c:
        c.expect_ready()
        assert c.call("listeners") == [n for n, _, _ in sockets]
        c.close_stdin()
        assert c.wait() == 0
    with Child(os.path.join(HERE, "conformance_child.py")) as c:
        c.expect_ready()
        assert c.call("listeners") == []
        c.close_stdin()
        assert c.wait() == 0


def start_plain(argv, made, extra_env=None):
    """Starts argv without a polyfork host, the sockets on 3.. and LISTEN_PID = its pid."""
    env = dict(os.environ, PYTHONPATH=SRC, **listen_env(made))
    env.update(extra_env or {})
    for k in ("POLYFORK_PROTOCOL", "POLYFORK_CHANNEL_FDS", "LISTEN_PID"):
        env.pop(k, None)
    moves = ["%d=%d" % kv for kv in sorted(passed(made).items())]
    return subprocess.Popen([PYTHON, os.path.join(HERE, "fdexec.py"), "--listen-pid"] + moves
                            + ["--"] + argv, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, pass_fds=sorted(passed(made).values()))


def test_without_a_host_as_under_systemd(sockets):
    p = start_plain([PYTHON, os.path.join(HERE, "children", "listen.py"), "plain"], sockets)
    try:
        got = json.loads(p.stdout.readline())
        assert [s[0] for s in got["sockets"]] == [n for n, _, _ in sockets]
        assert got["env"] == {}
        for name, _, address in sockets:
            conn = talk(name, address, b"x")
            assert conn.recv(100) == b"%d:x" % p.pid
            conn.close()
        assert p.wait(GUARD) == 0, p.stderr.read()
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()


def http_get(address, path):
    if isinstance(address, str):  # AF_UNIX: HTTP by hand
        c = talk("unix", address, b"GET " + path.encode() + b" HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        c.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head
        return json.loads(body)
    host = "[%s]" % address[0] if ":" in address[0] else address[0]
    with urllib.request.urlopen("http://%s:%d%s" % (host, address[1], path),
                                timeout=GUARD) as r:
        assert r.status == 200
        return json.loads(r.read())


def test_the_wsgi_example_serves_http_and_polyfork_in_one_process(sockets):
    with Child(os.path.join(EXAMPLE_DIR, "wsgi_server.py"), env=listen_env(sockets[:1]),
               pass_fds=passed(sockets[:1]), listen_pid=True) as c:
        c.expect_ready()
        address = sockets[0][2]
        for i in range(3):
            assert http_get(address, "/x%d" % i) == {"path": "/x%d" % i, "pid": c.proc.pid,
                                                    "hits": i + 1}
        assert c.call("hits") == 3
        c.write([2, "$stop", []])
        assert c.read_msg() is None
        assert c.wait() == 0
        assert "GET /x0" in c.stderr  # request logs go to the host's log


def test_the_wsgi_example_without_a_host_on_a_unix_socket(sockets):
    unix = [s for s in sockets if s[0] == "unix"]
    p = start_plain([PYTHON, os.path.join(EXAMPLE_DIR, "wsgi_server.py")], unix)
    try:
        assert http_get(unix[0][2], "/plain") == {"path": "/plain", "pid": p.pid, "hits": 1}
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(GUARD)
        p.stdout.close()
        p.stderr.close()


@pytest.fixture
def gunicorn(extras):
    """gunicorn from PyPI: it adopts systemd's LISTEN_FDS sockets."""
    return os.path.join(extras, "bin", "gunicorn")


def test_gunicorn_serves_the_example_app_on_an_inherited_socket(sockets, gunicorn):
    tcp = sockets[:1]
    # gunicorn takes LISTEN_FDS sockets only when LISTEN_PID is its own pid: fdexec sets it
    # and execs gunicorn in its place, as `sh -c 'LISTEN_PID=$$ exec "$@"'` would.
    p = start_plain([gunicorn, "--workers", "2", "--chdir", EXAMPLE_DIR, "wsgi_server:app"],
                    tcp)
    try:
        seen = set()
        deadline = time.monotonic() + GUARD
        for i in range(8):
            while True:  # gunicorn's workers start after the master: retry until one answers
                try:
                    r = http_get(tcp[0][2], "/g%d" % i)
                    break
                except OSError:
                    if time.monotonic() > deadline or p.poll() is not None:
                        raise
                    time.sleep(0.05)
            assert r["path"] == "/g%d" % i
            seen.add(r["pid"])
        assert p.pid not in seen  # answered by gunicorn's workers, on the master's socket
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(GUARD)
        finally:
            p.kill()
            err = p.stderr.read().decode()
            p.stdout.close()
            p.stderr.close()
    assert code == 0, err
    assert "Listening at: http://127.0.0.1:%d" % tcp[0][2][1] in err, err
