"""A test child for inherited listening sockets (SPEC 1.2).

Under a host it serves "sockets" (what polyfork.listen_sockets() found, and the LISTEN_*
variables left) and "serve_one" (accept one connection on a socket, answer it). With argv[1]
"plain" it runs without polyfork: prints the same description as one JSON line, then answers
one connection on each socket.
"""
import json
import os
import sys

import polyfork


def describe():
    socks = polyfork.listen_sockets()
    assert polyfork.listen_sockets() == socks  # the same objects every time
    return {
        "sockets": [[name, s.family.name, s.type.name, s.fileno(), os.get_inheritable(s.fileno()),
                     s.gettimeout()]
                    for name, s in zip(polyfork.listen_socket_names(), socks)],
        "env": {k: v for k, v in os.environ.items() if k.startswith("LISTEN_")},
    }


def serve_one(name):
    s = polyfork.listen_socket(name)
    conn, _ = s.accept()
    with conn:
        line = conn.recv(100)
        conn.sendall(b"%d:%s" % (os.getpid(), line))
    return True


if len(sys.argv) > 1 and sys.argv[1] == "plain":
    print(json.dumps(describe()), flush=True)
    for name in polyfork.listen_socket_names():
        serve_one(name)
else:
    polyfork.handle("sockets", describe)
    polyfork.handle("serve_one", serve_one)
    polyfork.run()
