"""Runs a command with descriptors moved to given numbers, as a polyfork host passes them.

    python3 fdexec.py [--listen-pid] DST=SRC ... -- COMMAND ARGS...

Each SRC (inherited from the caller, say through subprocess's pass_fds) becomes descriptor DST
and SRC is closed. ``--listen-pid`` sets LISTEN_PID to this process's pid, which COMMAND
keeps, since it is exec'd in place (systemd's socket activation convention, SPEC 1.2).
"""
import fcntl
import os
import sys


def main(argv):
    sep = argv.index("--")
    opts, command = argv[:sep], argv[sep + 1:]
    moves = [tuple(int(x) for x in a.split("=")) for a in opts if a != "--listen-pid"]
    if moves:
        # Everything to numbers above all targets first, so that no move clobbers a source.
        top = max(max(d, s) for d, s in moves) + 1
        staged = [(d, fcntl.fcntl(s, fcntl.F_DUPFD_CLOEXEC, top)) for d, s in moves]
        for _, s in moves:
            os.close(s)
        for d, t in staged:
            os.dup2(t, d, inheritable=True)
            os.close(t)
    if "--listen-pid" in opts:
        os.environ["LISTEN_PID"] = str(os.getpid())
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
