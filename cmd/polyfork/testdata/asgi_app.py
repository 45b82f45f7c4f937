"""A minimal ASGI app for uvicorn --fd 3: uvicorn, installed from PyPI, adopts the socket."""
import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = ("hello from uvicorn worker %d\n" % os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": body})
