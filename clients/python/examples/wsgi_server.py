"""A WSGI app served on an inherited listening socket, and polyfork handlers, in one process.

The socket comes from ``polyfork.listen_socket()`` (SPEC 1.2: LISTEN_FDS, as systemd's socket
activation passes it), so the same script runs

- under a polyfork host that shares a listening socket with its workers: HTTP on the socket,
  and the host's calls and messages on the polyfork channel;
- under systemd (a .socket unit), or any launcher that follows its convention: HTTP only;
- alone: it binds 127.0.0.1:8000 (or $PORT) itself.

The HTTP server (``wsgiref`` with one thread per connection) runs in a thread of its own and
``polyfork.run()`` in the main thread, because ``run()`` returns when the host says ``$stop``:
the script then shuts the HTTP server down and exits with status 0. ``app`` is a plain WSGI
callable, so other servers can serve it too: ``gunicorn --chdir examples wsgi_server:app``
adopts inherited sockets the same way.
"""
import json
import os
import socket
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

# Use the library from this repository when it is not installed.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import polyfork  # noqa: E402

_hits = 0
_hits_lock = threading.Lock()


def app(environ, start_response):
    """The WSGI application: answers every path with a little JSON."""
    global _hits
    with _hits_lock:
        _hits += 1
        hits = _hits
    body = json.dumps({"path": environ.get("PATH_INFO", "/"), "pid": os.getpid(),
                       "hits": hits}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def hits():
    """How many HTTP requests this process has answered: the host can ask over polyfork."""
    with _hits_lock:
        return _hits


class InheritedWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server on a socket that is already bound and listening."""

    daemon_threads = True

    def __init__(self, sock, handler_class):
        self.address_family = sock.family
        super().__init__(sock.getsockname(), handler_class, bind_and_activate=False)
        self.socket.close()  # the unbound socket socketserver made: ours is given
        self.socket = sock
        address = sock.getsockname()
        self.server_address = address
        if isinstance(address, tuple):
            self.server_name, self.server_port = address[0], address[1]
        else:  # AF_UNIX: a path
            self.server_name, self.server_port = "localhost", 0
        self.setup_environ()


class Handler(WSGIRequestHandler):
    """Logs each request to stderr (the host's log); works on AF_UNIX sockets too."""

    def setup(self):
        super().setup()
        if not isinstance(self.client_address, tuple):  # AF_UNIX peers have no address
            self.client_address = ("unix", 0)


def listening_socket():
    sock = polyfork.listen_socket()
    if sock is not None:
        return sock
    sock = socket.create_server(("127.0.0.1", int(os.environ.get("PORT", "8000"))))
    print("no inherited socket: listening on http://%s:%d" % sock.getsockname()[:2],
          file=sys.stderr)
    return sock


def main():
    server = InheritedWSGIServer(listening_socket(), Handler)
    server.set_app(app)
    if not os.environ.get("POLYFORK_PROTOCOL"):  # systemd or alone: HTTP is all there is
        server.serve_forever()
        return
    # Registered here, not at import: a server that imports only `app` (gunicorn) has no
    # polyfork channel, and the first use of the default session would look for one.
    polyfork.handle("hits", hits)
    http = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    http.start()
    try:
        polyfork.run()  # until the host's $stop or end of file on the channel
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
