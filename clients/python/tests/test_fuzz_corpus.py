"""Every input of the fuzz corpora through the frame reader and the decoders.

The Go side keeps its corpus under protocol/testdata/fuzz/<FuzzTarget>/ (Go's format, see
fuzz/gocorpus.py); tests/fuzz_seeds/ holds our own seeds in the same format. Each input goes
to the decoder its target names (any other directory: to all of them) in a process with a
memory limit and a time guard (fuzz/run.py): it must decode, be refused with ProtocolError,
or fail only as a value Python cannot hold; never raise anything else, hang, or allocate
without bound. The frames of invalid.json must all be refused.
"""
import glob
import json
import os
import resource
import subprocess

import pytest

from fuzz import gocorpus
from pfhost import GUARD, HERE, PYTHON

ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
CORPORA = [os.path.join(ROOT, "protocol", "testdata", "fuzz"), os.path.join(HERE, "fuzz_seeds")]
RUNNER = os.path.join(HERE, "fuzz", "run.py")
KNOWN = ("FuzzDecodeMessage", "FuzzDecodeValue", "FuzzFrameReader")
MEMORY = 2 << 30  # address space: a 64 MiB frame fits many times, a decode bomb does not


def corpus_dirs():
    dirs = []
    for corpus in CORPORA:
        for d in sorted(glob.glob(os.path.join(corpus, "*"))):
            if os.path.isdir(d) and os.listdir(d):
                dirs.append(d)
    return dirs


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run(target, files):
    p = subprocess.run([PYTHON, RUNNER, target] + files, capture_output=True, text=True,
                       timeout=GUARD * 5, preexec_fn=limit_memory)
    assert p.returncode == 0, p.stderr[-3000:]
    return [json.loads(line) for line in p.stdout.splitlines()]


def test_the_seed_corpus_is_there():
    # Until the Go corpus lands, the seeds keep this test meaningful.
    assert {os.path.basename(d) for d in corpus_dirs()} >= set(KNOWN)


@pytest.mark.parametrize("directory", corpus_dirs(),
                         ids=lambda d: os.path.relpath(d, ROOT))
def test_corpus_inputs_decode_or_are_refused(directory):
    files = sorted(f for f in glob.glob(os.path.join(directory, "*")) if os.path.isfile(f))
    target = os.path.basename(directory)
    results = run(target if target in KNOWN else "any", files)
    assert len(results) >= len(files)
    bad = [r for r in results if r["outcome"] not in ("decoded", "refused", "value")]
    assert not bad, json.dumps(bad, indent=1)


def test_invalid_vectors_are_refused_as_frames(tmp_path):
    with open(os.path.join(ROOT, "protocol", "testdata", "invalid.json"),
              encoding="utf-8") as f:
        vectors = json.load(f)
    files = []
    for i, v in enumerate(vectors):
        path = str(tmp_path / ("%02d" % i))
        gocorpus.write(path, bytes.fromhex(v["hex"]))
        files.append(path)
    results = run("FuzzFrameReader", files)
    assert [r["outcome"] for r in results] == ["refused"] * len(vectors), \
        [(vectors[int(os.path.basename(r["file"]))]["name"], r) for r in results
         if r["outcome"] != "refused"]


@pytest.mark.parametrize("lit,want", [
    ('"\\x94\\x010\\x84"', b"\x94\x01" + b"0\x84"),
    ('"a\\n\\t\\\\\\"b"', b'a\n\t\\"b'),
    ('"\\u00e9\\377"', "\u00e9".encode() + b"\xff"),
    ("`raw\\x`", b"raw\\x"),
    ('"\u00e9"', "\u00e9".encode()),
])
def test_go_string_literals(lit, want):
    assert gocorpus.unquote(lit) == want
    assert gocorpus.unquote(gocorpus.quote(want)) == want
