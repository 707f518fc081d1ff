"""The floor of bench/vs_moto.py: what a bare uvicorn raw-ASGI app costs, with no framework.

- ``PUT``/``POST`` any path: MD5 of the streamed body, discarded; answers the hex digest
  (bench/md5_sink.py's app);
- ``GET /blob/<n>``: n bytes from memory, one prebuilt pseudo-random 1 MiB buffer sent again
  and again in 1 MiB pieces (``more_body``): the bytes of ``upload_1gib.body(n, BLOCK_BYTES)``;
- ``GET``/``HEAD`` of any other path: a tiny JSON answer (the floor of a detail call).

Served as ``storage-emulator serve`` serves (uvicorn, loop/http "auto" -> uvloop + httptools
when installed, one worker, no access log, no server header).

    python bench/floor_app.py --port 8099
"""

from __future__ import annotations

import random
from typing import Any

from md5_sink import app as md5_app
from md5_sink import main as serve

BLOCK = 1 << 20
BLOCK_BYTES = random.Random(20240601).randbytes(BLOCK)  # the same bytes as upload_1gib.py's block
SMALL = b'{"code":0,"message":"ok","data":{"fileID":"floor"}}'


async def _start(send: Any, status: int, length: int, ctype: bytes) -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(length).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http" or scope["method"] in ("PUT", "POST"):
        await md5_app(scope, receive, send)  # lifespan, and the MD5 sink
        return
    path: str = scope["path"]
    head = scope["method"] == "HEAD"
    if path.startswith("/blob/"):
        try:
            size = int(path[6:])
        except ValueError:
            size = -1
        if size < 0:
            await _start(send, 404, 0, b"text/plain")
            await send({"type": "http.response.body", "body": b""})
            return
        await _start(send, 200, size, b"application/octet-stream")
        if head:
            await send({"type": "http.response.body", "body": b""})
            return
        full, rest = divmod(size, BLOCK)
        for i in range(full):
            await send({"type": "http.response.body", "body": BLOCK_BYTES, "more_body": i < full - 1 or rest > 0})
        if rest or not full:
            await send({"type": "http.response.body", "body": BLOCK_BYTES[:rest]})
        return
    await _start(send, 200, len(SMALL), b"application/json")
    await send({"type": "http.response.body", "body": b"" if head else SMALL})


if __name__ == "__main__":
    serve(app, __doc__)
