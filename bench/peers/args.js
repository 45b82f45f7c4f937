'use strict';

// The driver settings every benchmark driver takes as KEY=VALUE arguments (see
// bench/driver/spec.go for their meaning), parsed for the Node drivers.

const DEFAULTS = {
  system: '', sizes: '16', warm_ms: 20, warm_max: 200, lat_ms: 60, lat_min: 10,
  lat_max: 3000, tput_ms: 50, conc: 64, lat: 1, tput: 1,
};

/**
 * Parses KEY=VALUE arguments over DEFAULTS.
 * @param {string[]} argv
 * @returns {typeof DEFAULTS & {sizeList: number[]}}
 */
function parseArgs(argv) {
  const s = { ...DEFAULTS };
  for (const a of argv) {
    const i = a.indexOf('=');
    if (i < 0) throw new Error(`argument ${JSON.stringify(a)} is not KEY=VALUE`);
    const k = a.slice(0, i);
    const v = a.slice(i + 1);
    s[k] = typeof DEFAULTS[k] === 'number' ? Number(v) : v;
  }
  s.sizeList = String(s.sizes).split(',').map(Number);
  return s;
}

module.exports = { parseArgs };
