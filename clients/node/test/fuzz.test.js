'use strict';

// Every file of the Go side's fuzz corpus (protocol/testdata/fuzz/<Target>/*, Go's corpus
// format) and of our own seeds (test/fuzz_seeds/), plus every invalid.json frame, through
// the client's reader and decoders: each is decoded or refused with the library's
// ProtocolError (a lone value may also fail with ValueError), never another exception, a
// hang (the test's timeout) or unbounded memory (a 128 MiB heap, and a bound on the RSS).

const { it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { NODE } = require('./host');

const ROOTS = [
  path.join(__dirname, '..', '..', '..', 'protocol', 'testdata', 'fuzz'),
  path.join(__dirname, 'fuzz_seeds'),
];

function corpusFiles() {
  const files = [];
  for (const root of ROOTS) {
    if (!fs.existsSync(root)) continue;
    for (const target of fs.readdirSync(root)) {
      const dir = path.join(root, target);
      if (!fs.statSync(dir).isDirectory()) continue;
      for (const f of fs.readdirSync(dir)) files.push(path.join(dir, f));
    }
  }
  return files;
}

it('every fuzz corpus file and invalid.json frame is decoded or refused with ProtocolError', { timeout: 120000 }, () => {
  const files = corpusFiles();
  assert.ok(files.some((f) => f.includes('fuzz_seeds')), 'the seeds are there');
  const r = spawnSync(NODE, ['--max-old-space-size=128', path.join(__dirname, 'helpers', 'fuzz_feed.js'), ...files],
    { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  const { results, maxRSS } = JSON.parse(r.stdout);
  const failed = results.filter((x) => x.outcome.startsWith('FAILED'));
  assert.deepEqual(failed, []);
  assert.equal(results.filter((x) => x.file.startsWith('invalid.json')).length, require('../../../protocol/testdata/invalid.json').length);
  for (const x of results.filter((y) => y.file.startsWith('invalid.json'))) assert.equal(x.outcome, 'ProtocolError', x.file);
  assert.ok(maxRSS < 512 * 1024, `peak RSS ${Math.round(maxRSS / 1024)} MiB`);
});
