'use strict';

// The frame writer batches the frames of one event-loop turn into one write: these tests
// pin that it neither reorders nor holds back a frame, and that callbacks still run.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { Writable, PassThrough } = require('node:stream');
const { FrameWriter } = require('../lib/writer');
const { Encoder } = require('../lib/encode');
const { FrameReader } = require('../lib/reader');
const { Connection } = require('../lib/connection');
const { parseMessage } = require('../lib/message');

/** A Writable that records each write (writev counts as one). */
function recorder() {
  const writes = [];
  const w = new Writable({
    write(chunk, _enc, cb) { writes.push([chunk]); cb(); },
    writev(chunks, cb) { writes.push(chunks.map((c) => c.chunk)); cb(); },
  });
  return { w, writes, bytes: () => Buffer.concat(writes.flat()) };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('FrameWriter', () => {
  it('writes the frames of one turn once, in order, right after the turn', async () => {
    const rec = recorder();
    const fw = new FrameWriter(rec.w);
    const enc = new Encoder();
    const frames = [];
    for (let i = 0; i < 50; i++) {
      const f = enc.notification('n', [i]);
      frames.push(Buffer.from(f));
      fw.write(f);
    }
    assert.equal(rec.writes.length, 0, 'nothing is written during the turn');
    await new Promise((r) => process.nextTick(r));
    assert.equal(rec.writes.length, 1, 'one write (a writev of the frames)');
    assert.deepEqual(rec.bytes(), Buffer.concat(frames));
  });

  it('sends frames put one after the other in an Encoder as one buffer', async () => {
    const rec = recorder();
    const fw = new FrameWriter(rec.w);
    const enc = new Encoder();
    const frames = [];
    for (let i = 0; i < 50; i++) {
      enc.putNotification('n', [i]);
      frames.push(Buffer.from(enc.frame()));
      fw.writeRange(enc.buf, enc.frameStart, enc.frameEnd);
    }
    await new Promise((r) => process.nextTick(r));
    assert.equal(rec.writes.length, 1);
    assert.equal(rec.writes[0].length, 1, 'adjacent frames are one buffer');
    assert.deepEqual(rec.bytes(), Buffer.concat(frames));
  });

  it('keeps the order of frames from different buffers, and calls every callback', async () => {
    const rec = recorder();
    const fw = new FrameWriter(rec.w);
    const a = new Encoder();
    const b = new Encoder();
    const frames = [];
    const called = [];
    for (let i = 0; i < 6; i++) {
      const f = (i % 2 === 0 ? a : b).notification('n', [i]);
      frames.push(Buffer.from(f));
      fw.write(f, (err) => called.push([i, err ?? null]));
    }
    await turn();
    assert.deepEqual(rec.bytes(), Buffer.concat(frames));
    assert.deepEqual(called, [[0, null], [1, null], [2, null], [3, null], [4, null], [5, null]]);
  });

  it('writes a frame of a later turn in that turn', async () => {
    const rec = recorder();
    const fw = new FrameWriter(rec.w);
    const enc = new Encoder();
    fw.write(enc.notification('n', [1]));
    await turn();
    assert.equal(rec.writes.length, 1);
    fw.write(enc.notification('n', [2]));
    await turn();
    assert.equal(rec.writes.length, 2);
  });

  it('flush writes what is queued before calling back', async () => {
    const rec = recorder();
    const fw = new FrameWriter(rec.w);
    const f = new Encoder().notification('n', ['last words']);
    const copy = Buffer.from(f);
    fw.write(f);
    await new Promise((r) => fw.flush(r));
    assert.deepEqual(rec.bytes(), copy);
  });

  it('recycles only when the stream holds nothing back', async () => {
    let hold = false;
    const kept = [];
    const w = new Writable({
      highWaterMark: 1 << 30,
      write(chunk, _enc, cb) {
        if (hold) kept.push(cb); // the write completes later: the stream still holds the chunk
        else cb();
      },
    });
    let recycled = 0;
    const fw = new FrameWriter(w, { recycle: () => { recycled++; } });
    const enc = new Encoder();
    fw.write(enc.notification('n', [1]));
    await turn();
    assert.equal(recycled, 1);
    hold = true;
    fw.write(enc.notification('n', [2]));
    await turn();
    assert.equal(recycled, 1, 'not while a write is in flight');
    hold = false;
    for (const cb of kept) cb();
    fw.write(enc.notification('n', [3]));
    await turn();
    assert.equal(recycled, 2);
  });

  it('a recycled Encoder writes its next frame over the old ones', () => {
    const enc = new Encoder();
    const a = enc.notification('n', ['x'.repeat(200000)]);
    enc.recycle();
    const b = enc.notification('n', ['y']);
    assert.equal(a.buffer, b.buffer, 'the large buffer is kept');
    assert.equal(b.byteOffset, 0);
  });

  it('fails the callbacks of frames queued when the stream broke', async () => {
    const w = new Writable({ write(_c, _e, cb) { cb(new Error('EPIPE')); } });
    const fw = new FrameWriter(w);
    const enc = new Encoder();
    const errs = [];
    fw.write(enc.notification('n', [1]), (e) => errs.push(e && e.message));
    await turn();
    fw.write(enc.notification('n', [2]), (e) => errs.push(e && e.message));
    await turn();
    assert.equal(errs.length, 2);
    assert.ok(errs.every((m) => /EPIPE|closed/.test(m)), String(errs));
  });
});

describe('Connection answers in batches', () => {
  function served(handlers) {
    const input = new PassThrough();
    const rec = recorder();
    const c = new Connection(input, rec.w);
    for (const [name, fn] of Object.entries(handlers)) c.handle(name, fn);
    c.listen();
    return { input, rec, c };
  }

  function responses(rec) {
    const got = [];
    const r = new FrameReader((body) => got.push(parseMessage(Buffer.from(body))));
    for (const w of rec.writes) for (const b of w) r.push(b);
    return got;
  }

  it('answers a lone request in the turn that read it', async () => {
    const { input, rec } = served({ echo: (v) => v });
    input.write(new Encoder().request(7, 'echo', ['hi']));
    await turn();
    const got = responses(rec);
    assert.equal(got.length, 1);
    assert.equal(got[0].id, 7);
    assert.equal(got[0].result, 'hi');
  });

  it('answers every request of one read chunk with one write, in order', async () => {
    const { input, rec } = served({ echo: (v) => v });
    const enc = new Encoder();
    const frames = [];
    for (let i = 0; i < 100; i++) frames.push(Buffer.from(enc.request(i, 'echo', [i])));
    input.write(Buffer.concat(frames));
    await turn();
    assert.equal(rec.writes.length, 1);
    assert.deepEqual(responses(rec).map((m) => [m.id, m.result]), frames.map((_, i) => [i, i]));
  });

  it('sends answers of async handlers as they settle, none held back', async () => {
    let release;
    const gate = new Promise((r) => { release = r; });
    const { input, rec } = served({
      now: (v) => v,
      soon: async (v) => v,
      later: async (v) => { await gate; return v; },
    });
    const enc = new Encoder();
    input.write(Buffer.concat([
      enc.request(1, 'later', ['c']), enc.request(2, 'soon', ['b']), enc.request(3, 'now', ['a']),
    ].map((f) => Buffer.from(f))));
    await turn();
    assert.deepEqual(responses(rec).map((m) => m.id), [3, 2]);
    release();
    await turn();
    assert.deepEqual(responses(rec).map((m) => m.id), [3, 2, 1]);
  });
});
