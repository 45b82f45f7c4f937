// ES module entry for polyfork/core (see core.js): no side effects on stdio.
import core from './core.js';

export const {
  Connection, RequestContext, Encoder, FrameReader, FrameWriter, encode, decode, parseMessage,
  DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_VALUES, MAX_DEPTH,
  RemoteError, ProtocolError, FrameTooLargeError, ValueError, CancelledError, ConnectionClosedError,
  Ext, Float32, Float64, float32, float64,
} = core;
export default core;
