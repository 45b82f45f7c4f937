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
/** Takes over stdio and schedules `$ready` now; returns the connection to the host. */
export declare function start(): Connection;
/** Runs fn on `$stop` or the end of stdin, before the process exits. */
export declare function onStop(fn: () => void): void;
