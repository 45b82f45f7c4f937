// Types for polyfork: the child API, plus everything in polyfork/core.
import type { Connection, Disposable, Handler, RequestOptions } from './core';

export * from './core';

/** Sends `value` to the host as a message (`on('message')` / the host's message handler). */
export declare function send(value: unknown, cb?: (err?: Error | null) => void): void;
/** Listens to the host's messages (`'message'`) or named notifications. */
export declare function on(name: 'message', fn: (value: any) => void): Disposable;
export declare function on(name: string, fn: (...params: any[]) => void): Disposable;
/** Serves the host's requests for `method`; `this.signal` is aborted on `$cancel`. */
export declare function handle(method: string, fn: Handler): Disposable;
/** Calls the host's handler `method` with `params` as its arguments. */
export declare function call(method: string, ...params: unknown[]): Promise<any>;
/** Calls the host's handler `method` with an array of params and `{signal, timeout}`. */
export declare function request(method: string, params?: unknown[], options?: RequestOptions): Promise<any>;
/** Sends the notification `method` with `params` as its arguments. */
export declare function notify(method: string, ...params: unknown[]): void;
/** Takes the channel now (stdio, or POLYFORK_CHANNEL_FDS); returns the connection to the host. */
export declare function start(): Connection;
/**
 * Sends `$ready` now, if it has not gone out. It goes out by itself once the main module has
 * loaded (an ES module: after its top-level await), and at the first call to the host.
 */
export declare function ready(): Connection;
/**
 * Holds the automatic `$ready` back until `setup` (a function, run now, or a promise) is done;
 * then sends it. A setup that fails rejects the returned promise and sends no `$ready`.
 */
export declare function run(setup?: (() => unknown) | Promise<unknown>): Promise<void>;
/** An inherited listening socket (SPEC.md section 1.2). */
export interface ListenFd {
  fd: number;
  name: string;
}
/**
 * The listening sockets inherited with LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES, in order;
 * `[]` when none, or when LISTEN_PID is another process's. Takes them (LISTEN_* leave
 * process.env) on the first call.
 */
export declare function listenFds(): ListenFd[];
/** `{fd}` of the inherited socket named `name` (or the first), for `server.listen()`; null when none. */
export declare function listenHandle(name?: string): { fd: number } | null;
/** Runs fn on `$stop` or the end of stdin, before the process exits. */
export declare function onStop(fn: () => void | Promise<unknown>): void;
