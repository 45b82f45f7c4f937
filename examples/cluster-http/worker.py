"""An HTTP worker of the cluster in Python: the standard library's http.server on the
listening socket the host passes (polyfork.listen_socket(), SPEC 1.2).

It speaks the polyfork protocol too when the host gives it a channel (polyfork cluster
-channel fd): then the host's $stop stops it; without one (-channel none), SIGTERM does.
Either way it stops accepting, lets the other workers take the connections still queued
on the shared socket, answers the requests it accepted, and exits 0.
"""
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polyfork


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from python worker %d\n" % os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # one log line per request would drown the host's log


class InheritedServer(ThreadingHTTPServer):
    """ThreadingHTTPServer on a socket that is already bound and listening."""

    daemon_threads = False  # server_close() waits for the requests in flight
    block_on_close = True

    def __init__(self, sock):
        self.address_family = sock.family
        super().__init__(sock.getsockname(), Handler, bind_and_activate=False)
        self.socket.close()  # the unbound socket socketserver made: ours is given
        self.socket = sock


def main():
    sock = polyfork.listen_socket()
    if sock is None:
        sys.exit("worker.py: no listening socket was passed (LISTEN_FDS, LISTEN_PID): "
                 "run it under polyfork cluster")
    server = InheritedServer(sock)
    http = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    http.start()
    if os.environ.get("POLYFORK_PROTOCOL"):
        polyfork.run()  # until the host's $stop or the end of the channel
    else:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        stop.wait()
    server.shutdown()      # stop accepting: the queued connections go to the other workers
    server.server_close()  # answer the ones this worker accepted
    http.join()


if __name__ == "__main__":
    main()
