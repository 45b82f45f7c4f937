'use strict';

/**
 * The errors this library raises. Every error has a `code` string a program can switch on,
 * and a message a person can act on.
 * @module polyfork/errors
 */

/** How many bytes of a bad frame an error quotes. */
const QUOTE_LIMIT = 64;

/**
 * Formats up to QUOTE_LIMIT bytes as hex for an error message.
 * @param {Uint8Array} bytes
 * @param {number} [size] the full length, when bytes is a prefix of it
 * @returns {string}
 */
function quoteBytes(bytes, size = bytes.length) {
  const shown = bytes.subarray(0, QUOTE_LIMIT);
  let hex = Buffer.from(shown.buffer, shown.byteOffset, shown.byteLength).toString('hex');
  hex = hex.replace(/(..)(?!$)/g, '$1 ');
  if (size > shown.length) hex += ` ... (${size} bytes)`;
  return hex;
}

/**
 * The peer broke the wire protocol (SPEC.md): a bad frame, a value that is not a message,
 * counts larger than the frame. It ends the session.
 */
class ProtocolError extends Error {
  /**
   * @param {string} reason what was wrong
   * @param {object} [where]
   * @param {Uint8Array} [where.frame] the frame body, quoted in the message
   * @param {number} [where.offset] byte offset of the problem in the frame, or -1
   * @param {number} [where.size] full size of the frame when `frame` is a prefix, or -1 when unknown
   */
  constructor(reason, { frame, offset = -1, size } = {}) {
    let msg = `protocol: ${reason}`;
    const total = size === undefined ? (frame ? frame.length : -1) : size;
    if (offset >= 0 && total >= 0) msg += ` (at byte ${offset} of a ${total}-byte frame)`;
    if (frame && frame.length > 0) msg += `; received ${quoteBytes(frame, Math.max(total, frame.length))}`;
    super(msg);
    this.name = 'ProtocolError';
    this.code = 'POLYFORK_PROTOCOL';
    /** What was wrong, without the quote. */
    this.reason = reason;
    /** Byte offset of the problem in the frame body, or -1. */
    this.offset = offset;
  }
}

/**
 * A frame larger than the maximum frame size, refused before it is sent or read. When it is
 * raised for a send, nothing was sent and the connection stays usable.
 */
class FrameTooLargeError extends ProtocolError {
  /**
   * @param {number} size the frame body size
   * @param {number} max the maximum
   * @param {string} what "send" or "receive"
   * @param {boolean} [atLeast] size is a lower bound (encoding stopped early)
   */
  constructor(size, max, what, atLeast = false) {
    super(what === 'send'
      ? `refusing to send a frame of ${atLeast ? 'more than ' : ''}${size} bytes: the peer's maximum frame size is ${max} bytes (POLYFORK_MAX_FRAME_SIZE); nothing was sent`
      : `frame length ${size} is above the maximum frame size ${max} (POLYFORK_MAX_FRAME_SIZE)`);
    this.name = 'FrameTooLargeError';
    this.code = 'POLYFORK_FRAME_TOO_LARGE';
    /** The frame body size in bytes. */
    this.size = size;
    /** The maximum frame size in bytes. */
    this.max = max;
  }
}

/**
 * A value that cannot be encoded (a function, a symbol, a bigint out of the 64-bit range, a
 * string with a lone surrogate, nesting deeper than 128, more values in one frame than the
 * peer accepts: code POLYFORK_TOO_MANY_VALUES) or decoded into JavaScript exactly.
 * `path` says where it is, for example `params[1].items[3]`.
 */
class ValueError extends TypeError {
  /**
   * @param {string} reason what was wrong
   * @param {string} [path] where, relative to the top value
   * @param {string} [code] POLYFORK_VALUE, or POLYFORK_TOO_MANY_VALUES for a frame over the
   *   value-count limit
   */
  constructor(reason, path = '', code = 'POLYFORK_VALUE') {
    super(path ? `${reason} at ${path}` : reason);
    this.name = 'ValueError';
    this.code = code;
    /** What was wrong, without the path. */
    this.reason = reason;
    /** Where the bad value is, for example `params[0].user`; '' for the top value. */
    this.path = path;
  }

  /**
   * Returns a copy of this error with `segment` put in front of its path.
   * @param {string} segment such as `[3]` or `.name`
   * @returns {ValueError}
   */
  within(segment) {
    const p = this.path;
    const next = p === '' ? segment : p[0] === '[' || p[0] === '.' ? segment + p : `${segment}.${p}`;
    const e = new ValueError(this.reason, next, this.code);
    if (this.cause !== undefined) e.cause = this.cause; // what user code threw, if it did
    return e;
  }
}

/**
 * The handler on the other side failed: the error map of SPEC.md section 4.2. `type` is the
 * remote exception class (`ValueError`, `ConformanceError`) or a reserved type
 * (`MethodNotFound`, `CancelledError`, `ProtocolError`).
 */
class RemoteError extends Error {
  /**
   * @param {{type: string, message: string, traceback?: string, data?: any}} map
   * @param {string} [method] the method that was called
   */
  constructor(map, method) {
    super(map.message);
    this.name = 'RemoteError';
    this.code = 'POLYFORK_REMOTE';
    /** The remote error type, for example `ValueError` or `MethodNotFound`. */
    this.type = map.type;
    /** The remote traceback as text, or undefined. */
    this.traceback = map.traceback;
    /** Structured data the remote side attached, or undefined. */
    this.data = map.data;
    /** The method that was called, when known. */
    this.method = method;
  }
}

/**
 * A request given up on: its AbortSignal was aborted or its timeout passed (`code` is
 * `ABORT_ERR` or `POLYFORK_TIMEOUT`), or the handler was cancelled by `$cancel`.
 */
class CancelledError extends Error {
  /**
   * @param {string} message
   * @param {string} [code]
   */
  constructor(message, code = 'ABORT_ERR') {
    super(message);
    this.name = 'CancelledError';
    this.code = code;
  }
}

/**
 * The connection ended (the peer closed it, `$stop`, a protocol error) while a request was
 * in flight, or a request was made after it ended. `cause` holds the reason when there is one.
 */
class ConnectionClosedError extends Error {
  /**
   * @param {string} message
   * @param {Error} [cause]
   */
  constructor(message, cause) {
    super(cause ? `${message}: ${cause.message}` : message, cause ? { cause } : undefined);
    this.name = 'ConnectionClosedError';
    this.code = 'POLYFORK_CLOSED';
  }
}

module.exports = {
  ProtocolError,
  FrameTooLargeError,
  ValueError,
  RemoteError,
  CancelledError,
  ConnectionClosedError,
  quoteBytes,
};
