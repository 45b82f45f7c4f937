// Types for polyfork/core: the connection, the codec and the errors (no side effects).
import type { Readable, Writable } from 'node:stream';
import type { Socket, OnReadOpts } from 'node:net';

/** A registration that can be undone. */
export interface Disposable {
  dispose(): void;
}

/** An error map (SPEC.md section 4.2). */
export interface ErrorMap {
  type: string;
  message: string;
  traceback?: string;
  data?: unknown;
}

/** Options of a request. */
export interface RequestOptions {
  /** Aborting it rejects the call with the signal's reason and sends `$cancel`. */
  signal?: AbortSignal;
  /** Milliseconds; when they pass the call rejects with a CancelledError (code POLYFORK_TIMEOUT). */
  timeout?: number;
}

/** `this` inside a request handler (use a `function`, not an arrow function). */
export declare class RequestContext {
  readonly connection: Connection;
  readonly id: number;
  readonly method: string;
  /** True once the peer sent `$cancel` for this request. */
  readonly cancelled: boolean;
  /**
   * Aborted when the peer cancels the request (its reason a CancelledError), or when the
   * connection ends while it runs (a ConnectionClosedError whose cause says why).
   */
  readonly signal: AbortSignal;
}

/** A request handler: gets the params as arguments; returns, resolves or throws. */
export type Handler = (this: RequestContext, ...params: any[]) => unknown;

/** One side of a polyfork session over a readable and a writable stream. */
export declare class Connection {
  /**
   * `readable` is a stream, or a function that opens a net.Socket with the given `onread`
   * option, so that frames are read straight into the reader's memory.
   */
  constructor(
    readable: Readable | ((onread: OnReadOpts) => Socket),
    writable: Writable | ((readable: Readable) => Writable),
    options?: { maxFrameSize?: number; maxValues?: number; hold?: boolean; log?: (line: string) => void },
  );
  /** The most msgpack values in one frame, both ways. */
  readonly maxValues: number;
  /** Starts reading frames. */
  listen(): void;
  /** Writes `firstFrame`, then the frames held back (option `hold`). */
  open(firstFrame?: Uint8Array): void;
  handle(method: string, fn: Handler): Disposable;
  on(name: 'message', fn: (value: any) => void): Disposable;
  on(name: string, fn: (...params: any[]) => void): Disposable;
  send(value: unknown, cb?: (err?: Error | null) => void): void;
  notify(method: string, ...params: unknown[]): void;
  call(method: string, ...params: unknown[]): Promise<any>;
  request(method: string, params?: unknown[], options?: RequestOptions): Promise<any>;
  onStop(fn: () => void | Promise<unknown>): void;
  onClose(fn: (error: Error | null) => void): void;
  whenIdle(cb: () => void): void;
  flush(cb: () => void): void;
  close(): void;
  readonly stopping: boolean;
  readonly closed: boolean;
  readonly closeError: Error | null;
}

/** Encodes messages into frames with polyfork's msgpack profile. */
export declare class Encoder {
  constructor(options?: { maxFrameSize?: number; maxValues?: number });
  maxFrameSize: number;
  /** A frame over it is refused with a ValueError whose code is POLYFORK_TOO_MANY_VALUES. */
  maxValues: number;
  request(id: number, method: string, params: unknown[]): Buffer;
  response(id: number, error: ErrorMap | null, result: unknown): Buffer;
  notification(method: string, params: unknown[]): Buffer;
  encodeValue(value: unknown): Buffer;
  /** Encode a frame without making a Buffer of it: it is `buf[frameStart, frameEnd)`. */
  putRequest(id: number, method: string, params: unknown[]): void;
  putResponse(id: number, error: ErrorMap | null, result: unknown): void;
  putNotification(method: string, params: unknown[]): void;
  /** The last frame put, as a view. */
  frame(): Buffer;
  readonly buf: Buffer;
  readonly frameStart: number;
  readonly frameEnd: number;
  /** Lets the next frames reuse this Encoder's memory: only when no frame returned so far is in use. */
  recycle(): void;
}

/** Splits a byte stream into frame bodies. */
export declare class FrameReader {
  constructor(onFrame: (body: Buffer) => void, options?: { maxFrameSize?: number; ranges?: false });
  /** With `ranges`, onFrame gets the body as buf[start, end). */
  constructor(onFrame: (buf: Buffer, start: number, end: number) => void, options: { maxFrameSize?: number; ranges: true });
  maxFrameSize: number;
  push(chunk: Buffer): void;
  /** Direct reads: the memory the next read should fill; a body is then valid only during onFrame. */
  readTarget(): Buffer;
  /** Direct reads: takes the n bytes just read into readTarget(). */
  wrote(n: number): void;
  end(): void;
}

/** Writes whole frames to a stream. */
export declare class FrameWriter {
  /**
   * `recycle` is called when the stream took every frame whole (a net.Socket only);
   * `onPressure` with true when more than 1 MiB waits in the stream and with false once it
   * drained; `onError` once when a write fails (the peer closed its end), after which every
   * frame is dropped.
   */
  constructor(stream: Writable, options?: {
    hold?: boolean;
    recycle?: (() => void) | null;
    onPressure?: ((full: boolean) => void) | null;
    onError?: ((err: Error) => void) | null;
  });
  write(frame: Buffer, cb?: (err?: Error | null) => void): void;
  writeRange(buf: Buffer, start: number, end: number, cb?: (err?: Error | null) => void): void;
  release(first?: Buffer): void;
  flush(cb: () => void): void;
}

/** A decoded message. */
export interface Message {
  kind: 0 | 1 | 2;
  id?: number;
  method?: string;
  params?: any[];
  error?: ErrorMap | null;
  result?: any;
  valueError?: ValueError;
}

/** Encodes one value (no frame prefix). */
export declare function encode(value: unknown): Buffer;
/** Checks and decodes one msgpack value. */
export declare function decode(buf: Uint8Array, start?: number, end?: number): any;
/** Parses a frame body into a message; more than `maxValues` values is a ProtocolError. */
export declare function parseMessage(buf: Buffer, start?: number, end?: number, maxValues?: number): Message;

export declare const DEFAULT_MAX_FRAME_SIZE: number;
/** The default maximum number of msgpack values in one frame (4194304). */
export declare const DEFAULT_MAX_VALUES: number;
export declare const MAX_DEPTH: number;

/** The peer broke the wire protocol; ends the session. */
export declare class ProtocolError extends Error {
  readonly code: string;
  readonly reason: string;
  readonly offset: number;
}
/** A frame above the maximum frame size, refused before sending or reading. */
export declare class FrameTooLargeError extends ProtocolError {
  readonly size: number;
  readonly max: number;
}
/**
 * A value that cannot be encoded, or decoded exactly; `path` says where. `code` is
 * POLYFORK_VALUE, or POLYFORK_TOO_MANY_VALUES for a frame over the value-count limit.
 */
export declare class ValueError extends TypeError {
  readonly code: 'POLYFORK_VALUE' | 'POLYFORK_TOO_MANY_VALUES';
  readonly reason: string;
  readonly path: string;
}
/** The remote handler failed. */
export declare class RemoteError extends Error {
  readonly code: string;
  /** The remote error type: `ValueError`, `MethodNotFound`, `CancelledError`... */
  readonly type: string;
  readonly traceback?: string;
  readonly data?: unknown;
  readonly method?: string;
}
/** A call given up on (signal, timeout) or a handler cancelled by `$cancel`. */
export declare class CancelledError extends Error {
  readonly code: string;
}
/** The connection ended while a call was in flight. */
export declare class ConnectionClosedError extends Error {
  readonly code: string;
}

/** A msgpack ext value other than a timestamp a Date holds exactly. */
export declare class Ext {
  constructor(type: number, data: Uint8Array);
  readonly type: number;
  readonly data: Uint8Array;
}
/** A number sent as msgpack float32. */
export declare class Float32 {
  constructor(value: number);
  readonly value: number;
}
/** A number sent as msgpack float64 even when integral. */
export declare class Float64 {
  constructor(value: number);
  readonly value: number;
}
export declare function float32(value: number): Float32;
export declare function float64(value: number): Float64;
