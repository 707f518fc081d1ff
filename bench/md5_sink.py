"""A bare uvicorn sink: MD5s each request body as it streams in and answers the hex digest.

The baseline the DESIGN targets compare the content store against ("a bare uvicorn sink
that MD5s what it receives"). Raw ASGI, no framework, hashing inline on the event loop,
served exactly as ``storage-emulator serve`` serves (uvicorn, loop/http "auto" -> uvloop +
httptools when installed, one worker).

    python bench/md5_sink.py --port 8099
    curl -T somefile http://127.0.0.1:8099/      # -> md5 hex digest
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    md5 = hashlib.md5()
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        md5.update(message.get("body", b""))
        more = message.get("more_body", False)
    digest = md5.hexdigest().encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(digest)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": digest})


def main(asgi: Any = app, doc: str | None = __doc__) -> None:
    """Serve ``asgi`` (bench/floor_app.py serves its own app through this too)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    # As `storage-emulator serve`: no access log (its journal writes its own lines), no server header.
    uvicorn.run(asgi, host=args.host, port=args.port, log_level=args.log_level, access_log=False, server_header=False)


if __name__ == "__main__":
    main()
