import { handle, send, on, call, request, RemoteError, float64, ready, run, listenFds, listenHandle, ValueError, DEFAULT_MAX_VALUES } from 'polyfork';
handle('add', function (a: number, b: number) { this.signal.aborted; return a + b; });
on('message', (v) => send(v));
call('x', 1).then((r) => r);
request('y', [1], { timeout: 10 });
const e: RemoteError | undefined = undefined; float64(1);
// polyfork/core's lower level: a Connection reading with onread, frames put without a view.
import { Connection, Encoder, FrameReader, FrameWriter } from 'polyfork/core';
import { Socket, SocketConstructorOpts } from 'node:net';
import { PassThrough } from 'node:stream';
// (@types/node 20 does not list onread among Socket's constructor options, though Node 20 takes it.)
const conn = new Connection((onread) => new Socket({ fd: 0, readable: true, onread } as SocketConstructorOpts), new PassThrough());
const enc = new Encoder();
enc.putResponse(1, null, 'ok');
new FrameWriter(new PassThrough(), { recycle: () => enc.recycle() }).writeRange(enc.buf, enc.frameStart, enc.frameEnd);
new FrameReader((buf, start, end) => buf.subarray(start, end), { ranges: true }).readTarget();
conn.listen();
// Start-up, listening sockets, limits.
run(async () => { handle('late', () => 1); }).then(() => ready().maxValues);
const names: string[] = listenFds().map((s) => s.name);
const h: { fd: number } | null = listenHandle('web');
const tooMany = (e: ValueError) => e.code === 'POLYFORK_TOO_MANY_VALUES';
new Encoder({ maxValues: DEFAULT_MAX_VALUES });
new Connection(new PassThrough(), (r) => new PassThrough(), { maxValues: 10, log: (line) => line.length });
