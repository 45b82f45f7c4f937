'use strict';

// Reads Go's fuzz corpus files ("go test fuzz v1", then one Go expression per argument,
// such as []byte("\x94\x00...")), and writes them, for test/fuzz.test.js.

/**
 * Returns the bytes of the first []byte or string argument of a corpus file.
 * @param {string} text the file's content
 * @returns {Buffer}
 * @throws {Error} when the file is not in that format
 */
function parseCorpusFile(text) {
  const lines = text.split('\n');
  if (lines[0].trim() !== 'go test fuzz v1') throw new Error(`not a Go fuzz corpus file: first line ${JSON.stringify(lines[0])}`);
  for (const line of lines.slice(1)) {
    const m = /^\s*(\[\]byte|string)\((.*)\)\s*$/.exec(line);
    if (m) return unquote(m[2]);
  }
  throw new Error('no []byte or string argument in the corpus file');
}

/**
 * Decodes a Go string literal (interpreted "..." or raw `...`) into its bytes.
 * @param {string} lit
 * @returns {Buffer}
 */
function unquote(lit) {
  if (lit.startsWith('`') && lit.endsWith('`')) return Buffer.from(lit.slice(1, -1).replace(/\r/g, ''), 'utf8');
  if (!(lit.startsWith('"') && lit.endsWith('"') && lit.length >= 2)) throw new Error(`not a Go string literal: ${lit.slice(0, 40)}`);
  const s = lit.slice(1, -1);
  const out = [];
  const simple = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, "'": 39, '"': 34 };
  for (let i = 0; i < s.length;) {
    const c = s[i];
    if (c !== '\\') {
      const cp = s.codePointAt(i);
      const ch = String.fromCodePoint(cp);
      out.push(...Buffer.from(ch, 'utf8'));
      i += ch.length;
      continue;
    }
    const e = s[i + 1];
    if (e in simple) {
      out.push(simple[e]);
      i += 2;
    } else if (e === 'x') {
      out.push(parseInt(hex(s, i + 2, 2), 16));
      i += 4;
    } else if (e >= '0' && e <= '7') {
      out.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 4;
    } else if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      out.push(...Buffer.from(String.fromCodePoint(parseInt(hex(s, i + 2, n), 16)), 'utf8'));
      i += 2 + n;
    } else {
      throw new Error(`unknown escape \\${e} in a Go string literal`);
    }
  }
  return Buffer.from(out);
}

function hex(s, at, n) {
  const h = s.slice(at, at + n);
  if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) throw new Error(`bad hex escape ${h}`);
  return h;
}

/**
 * Returns the corpus file for `bytes`: []byte("...") with Go's %q escaping of bytes.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
function formatCorpusFile(bytes) {
  let q = '';
  for (const b of bytes) {
    if (b === 0x22) q += '\\"';
    else if (b === 0x5c) q += '\\\\';
    else if (b === 0x0a) q += '\\n';
    else if (b === 0x09) q += '\\t';
    else if (b === 0x0d) q += '\\r';
    else if (b >= 0x20 && b < 0x7f) q += String.fromCharCode(b);
    else q += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `go test fuzz v1\n[]byte("${q}")\n`;
}

module.exports = { parseCorpusFile, unquote, formatCorpusFile };
