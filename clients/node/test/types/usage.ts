import { handle, send, on, call, request, RemoteError, float64 } from 'polyfork';
handle('add', function (a: number, b: number) { this.signal.aborted; return a + b; });
on('message', (v) => send(v));
call('x', 1).then((r) => r);
request('y', [1], { timeout: 10 });
const e: RemoteError | undefined = undefined; float64(1);
