"""A child that runs its own asyncio program and serves with `await polyfork.serve()`."""
import asyncio

import polyfork


@polyfork.handle("aecho")
async def aecho(v):
    await asyncio.sleep(0)
    return v


@polyfork.handle("sum_host")
async def sum_host(a, b):
    return await polyfork.call("host_add", a, b)


async def main():
    # Not serving yet and on a loop of our own: call() is awaitable and runs in an executor.
    before = await polyfork.call("host_add", 1, 2)
    polyfork.send({"before": before})
    await polyfork.serve()
    polyfork.send("served")  # the host stopped: this still goes out before exit


asyncio.run(main())
