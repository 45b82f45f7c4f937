// ES module entry: the same API as the CommonJS one (see index.js), as named exports.
import polyfork from './index.js';

export const {
  send, on, handle, call, request, notify, start, ready, run, onStop, listenFds, listenHandle,
  Connection, RequestContext, Encoder, FrameReader, FrameWriter, encode, decode, parseMessage,
  DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_VALUES, MAX_DEPTH,
  RemoteError, ProtocolError, FrameTooLargeError, ValueError, CancelledError, ConnectionClosedError,
  Ext, Float32, Float64, float32, float64,
} = polyfork;
export default polyfork;
