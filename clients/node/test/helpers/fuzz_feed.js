'use strict';

// Feeds inputs to the client's reader and decoders and reports, as JSON on stdout, how each
// ended: decoded, or refused with the library's ProtocolError (or, for a lone value, its
// ValueError); anything else is a failure. Run by test/fuzz.test.js in a process of its
// own with a small heap, so that unbounded memory shows as a crash.
//
// usage: node fuzz_feed.js <corpus file>...    (targets come from the directory name:
// FuzzFrameReader is a byte stream, FuzzDecodeMessage a frame body, FuzzDecodeValue one
// msgpack value; other directories get all three)

const fs = require('node:fs');
const path = require('node:path');
const { parseCorpusFile } = require('./gofuzz');
const { FrameReader } = require('../../lib/reader');
const { parseMessage } = require('../../lib/message');
const { decode } = require('../../lib/decode');
const { ProtocolError, ValueError } = require('../../lib/errors');

/** Runs fn; returns 'ok', the name of a library error it threw, or a failure description. */
function outcome(fn, allowed) {
  try {
    fn();
    return 'ok';
  } catch (e) {
    for (const cls of allowed) if (e instanceof cls) return cls.name;
    return `FAILED: ${e && e.name}: ${e && e.message}`;
  }
}

/** The stream through a FrameReader fed at once, byte by byte, and by direct reads. */
function asStream(bytes) {
  const results = [];
  for (const mode of ['whole', 'bytes', 'direct']) {
    results.push(outcome(() => {
      const r = new FrameReader((buf, start, end) => parseMessage(buf, start, end), { ranges: true });
      if (mode === 'whole') {
        r.push(bytes);
      } else if (mode === 'bytes') {
        for (let i = 0; i < bytes.length; i++) r.push(bytes.subarray(i, i + 1));
      } else {
        let at = 0;
        while (at < bytes.length) {
          const target = r.readTarget();
          const n = Math.min(target.length, bytes.length - at, 7919);
          bytes.copy(target, 0, at, at + n);
          at += n;
          r.wrote(n);
        }
      }
      r.end();
    }, [ProtocolError]));
  }
  // The three ways must agree.
  return results.every((x) => x === results[0]) ? results[0] : `FAILED: the ways of reading disagree: ${results.join(' / ')}`;
}

const TARGETS = {
  FuzzFrameReader: (b) => asStream(b),
  FuzzDecodeMessage: (b) => outcome(() => parseMessage(b), [ProtocolError]),
  FuzzDecodeValue: (b) => outcome(() => decode(b), [ProtocolError, ValueError]),
};

const results = [];
for (const file of process.argv.slice(2)) {
  const dir = path.basename(path.dirname(file));
  let bytes;
  try {
    bytes = parseCorpusFile(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    results.push({ file, target: dir, outcome: `FAILED: cannot read the corpus file: ${e.message}` });
    continue;
  }
  const targets = TARGETS[dir] ? [dir] : Object.keys(TARGETS);
  for (const t of targets) results.push({ file, target: t, outcome: TARGETS[t](bytes) });
}
const invalid = require('../../../../protocol/testdata/invalid.json');
for (const v of invalid) {
  results.push({ file: `invalid.json: ${v.name}`, target: 'FuzzFrameReader', outcome: asStream(Buffer.from(v.hex, 'hex')) });
}
process.stdout.write(JSON.stringify({ results, maxRSS: process.resourceUsage().maxRSS }));
