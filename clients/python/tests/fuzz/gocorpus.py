"""Reading and writing Go's fuzz corpus files (``go test fuzz v1``) holding []byte values.

A corpus file is the line ``go test fuzz v1`` and then one line per argument of the fuzz
target, such as ``[]byte("\\x94\\x00")``: a Go string literal, interpreted or raw.
"""
import re

HEADER = "go test fuzz v1"
_SIMPLE = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, "'": 39,
           '"': 34}


class CorpusError(ValueError):
    """The file is not a corpus file this reader understands."""


def unquote(lit):
    """The bytes of a Go string literal (with its quotes): "..." with escapes, or `...`."""
    if len(lit) >= 2 and lit[0] == lit[-1] == "`":
        return lit[1:-1].replace("\r", "").encode("utf-8")
    if len(lit) < 2 or lit[0] != '"' or lit[-1] != '"':
        raise CorpusError("not a Go string literal: %r" % lit[:40])
    s, out, i = lit[1:-1], bytearray(), 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        e = s[i + 1:i + 2]
        if e in _SIMPLE:
            out.append(_SIMPLE[e])
            i += 2
        elif e == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif e in ("u", "U"):
            n = 4 if e == "u" else 8
            out += chr(int(s[i + 2:i + 2 + n], 16)).encode("utf-8")
            i += 2 + n
        elif e and e in "01234567":
            out.append(int(s[i + 1:i + 4], 8))
            i += 4
        else:
            raise CorpusError("unknown escape \\%s in %r" % (e, lit[:40]))
    return bytes(out)


_LINE = re.compile(r"^\s*\[\]byte\((.*)\)\s*$")
_OTHER = re.compile(r"^\s*(string|u?int(8|16|32|64)?|bool|float(32|64)|rune|byte)\(.*\)\s*$")


def read(path):
    """The []byte arguments of one corpus file, in order; arguments of other types (a fuzz
    target may also take a string or a number) are skipped."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines or lines[0].strip() != HEADER:
        raise CorpusError("%s does not start with %r" % (path, HEADER))
    args = []
    for line in lines[1:]:
        if not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            if _OTHER.match(line):
                continue
            raise CorpusError("%s: not a Go fuzz argument: %r" % (path, line[:60]))
        args.append(unquote(m.group(1)))
    return args


def quote(data):
    """data as a Go interpreted string literal (printable ASCII as is, the rest escaped)."""
    out = ['"']
    for b in data:
        if b == 0x22:
            out.append('\\"')
        elif b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    out.append('"')
    return "".join(out)


def write(path, data):
    with open(path, "w", encoding="utf-8") as f:
        f.write("%s\n[]byte(%s)\n" % (HEADER, quote(data)))
