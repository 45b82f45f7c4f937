'use strict';

/**
 * The side-effect-free part of polyfork: the connection, the codec and the errors, for
 * writing a host in JavaScript or testing over in-memory streams. `require('polyfork/core')`
 * never touches the process's stdio.
 * @module polyfork/core
 */

const { Connection, RequestContext } = require('./connection');
const { Encoder, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_VALUES, MAX_DEPTH } = require('./encode');
const { decode } = require('./decode');
const { parseMessage } = require('./message');
const { FrameReader } = require('./reader');
const { FrameWriter } = require('./writer');
const errors = require('./errors');
const values = require('./values');

/**
 * Encodes one value as msgpack with polyfork's profile (no frame prefix).
 * @param {any} value
 * @returns {Buffer}
 */
function encode(value) {
  return new Encoder().encodeValue(value);
}

module.exports = {
  Connection,
  RequestContext,
  Encoder,
  FrameReader,
  FrameWriter,
  encode,
  decode,
  parseMessage,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_MAX_VALUES,
  MAX_DEPTH,
  RemoteError: errors.RemoteError,
  ProtocolError: errors.ProtocolError,
  FrameTooLargeError: errors.FrameTooLargeError,
  ValueError: errors.ValueError,
  CancelledError: errors.CancelledError,
  ConnectionClosedError: errors.ConnectionClosedError,
  Ext: values.Ext,
  Float32: values.Float32,
  Float64: values.Float64,
  float32: values.float32,
  float64: values.float64,
};
