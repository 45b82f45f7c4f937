'use strict';

/**
 * What a polyfork host tells its child through the environment (SPEC.md section 1): the
 * limits of what the host reads, and where the channel is. Reading it has no side effects;
 * a bad value is a start-up error (ConfigError) whose message is one line naming the
 * variable and its value.
 * @module polyfork/config
 */

const { DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_VALUES } = require('./encode');

/** A variable the host set that the child cannot use; the child cannot start. */
class ConfigError extends Error {
  /** @param {string} message one line naming the variable and its value */
  constructor(message) {
    super(message);
    this.name = 'ConfigError';
    this.code = 'POLYFORK_CONFIG';
  }
}

/**
 * The child's settings.
 * @typedef {object} Config
 * @property {boolean} underHost POLYFORK_PROTOCOL or POLYFORK_CHANNEL_FDS is set
 * @property {number} maxFrameSize POLYFORK_MAX_FRAME_SIZE, or 64 MiB
 * @property {number} maxValues POLYFORK_MAX_VALUES, or 4194304
 * @property {{r: number, w: number} | null} channelFds POLYFORK_CHANNEL_FDS, or null for stdio
 */

/**
 * Reads the settings from `env`.
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {Config}
 * @throws {ConfigError}
 */
function readConfig(env = process.env) {
  return {
    underHost: Boolean(env.POLYFORK_PROTOCOL) || env.POLYFORK_CHANNEL_FDS !== undefined,
    maxFrameSize: positive(env, 'POLYFORK_MAX_FRAME_SIZE', DEFAULT_MAX_FRAME_SIZE, 'number of bytes'),
    maxValues: positive(env, 'POLYFORK_MAX_VALUES', DEFAULT_MAX_VALUES, 'count of values'),
    channelFds: channelFds(env),
  };
}

/** Reads a positive integer variable; absent or empty means `dflt`. */
function positive(env, name, dflt, what) {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new ConfigError(`polyfork: ${name} must be a positive integer ${what}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Reads POLYFORK_CHANNEL_FDS=<r>,<w> (SPEC section 1.1). */
function channelFds(env) {
  const raw = env.POLYFORK_CHANNEL_FDS;
  if (raw === undefined) return null;
  const m = /^(\d{1,9}),(\d{1,9})$/.exec(raw);
  if (!m) {
    throw new ConfigError(`polyfork: POLYFORK_CHANNEL_FDS must be two descriptor numbers "<r>,<w>", got ${JSON.stringify(raw)}`);
  }
  return { r: Number(m[1]), w: Number(m[2]) };
}

module.exports = { readConfig, ConfigError };
