"""A plain HTTP worker for polyfork cluster (-channel none) that stops the way many
servers do: on SIGTERM it calls shutdown(SHUT_RDWR) on the inherited listening socket
to wake its accept loop. That un-listens the socket shared with every other worker;
polyfork has it listen again when this worker exits (cluster_test.go). Its accept loop
goes on after an error, as selectors and socketserver loops do."""
import os
import selectors
import signal
import socket

sock = socket.socket(fileno=3)
sel = selectors.DefaultSelector()
sel.register(sock, selectors.EVENT_READ)
stopping = False


def on_term(signum, frame):
    global stopping
    stopping = True
    sock.shutdown(socket.SHUT_RDWR)


signal.signal(signal.SIGTERM, on_term)
body = ("hello from python worker %d\n" % os.getpid()).encode()
while not stopping:
    for _key, _ in sel.select(timeout=1):
        try:
            conn, _addr = sock.accept()
        except (BlockingIOError, InterruptedError, OSError):
            continue
        conn.setblocking(True)
        conn.settimeout(5)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        finally:
            conn.close()
