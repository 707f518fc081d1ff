"""The floor plus the content store's unavoidable work, one step at a time (bench/storage_bound.py).

A bare raw-ASGI uvicorn app like ``floor_app.py`` (its GET/HEAD answers are the floor's), whose
PUT/POST does what the emulator's upload path must do with the bytes and nothing else (no
framework, no API, no bookkeeping rows), chosen by ``--mode``:

- ``sha1``: MD5 and SHA-1 of the body, each on a thread of its own, 1 MiB at a time, at most four
  chunks in flight (the emulator's pipeline, ``emulator/core/blobs.py``), bytes discarded;
- ``file``: the same, plus each chunk written to one file with ``pwrite`` on a third thread;
- ``wal``: the same, plus each chunk written as a row of a SQLite file configured as the
  emulator configures its database (``emulator/core/db.py``: page size, WAL, synchronous off,
  the checkpoint and journal limits; ``zeroblob`` + incremental blob I/O as ``BlobStore.put_chunk``),
  one transaction per chunk;
- ``rollback``: as ``wal`` with SQLite's rollback journal (``journal_mode=TRUNCATE``) instead of
  the write-ahead log;
- ``wal-idle``: as ``wal`` with no checkpoint during an upload (``wal_autocheckpoint=0``): one
  checkpoint (``TRUNCATE``) after the answer, while the benchmark talks to the other servers.

Answers the MD5's hex digest, as the floor does. Rows are deleted every 64 chunks, so the file
reuses its free pages as the emulator's does when the benchmark deletes what it uploaded.

    python bench/bound_app.py --mode wal --port 8099
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sqlite3
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import floor_app

from emulator.core.db import PAGE_SIZE, WAL_CHECKPOINT_PAGES, WAL_LIMIT

CHUNK = 1 << 20
DEPTH = 4
MODES = ("sha1", "file", "wal", "rollback", "wal-idle")


class Store:
    """Where a mode puts a chunk (on the writer thread)."""

    def __init__(self, mode: str, directory: Path) -> None:
        self.mode = mode
        self.seq = 0
        self.fd = -1
        self.conn: sqlite3.Connection | None = None
        if mode == "file":
            self.fd = os.open(directory / "objects.bin", os.O_RDWR | os.O_CREAT, 0o600)
        elif mode in ("wal", "rollback", "wal-idle"):
            conn = sqlite3.connect(directory / "bound.db", isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA secure_delete=OFF")
            conn.execute("PRAGMA journal_mode=" + ("TRUNCATE" if mode == "rollback" else "WAL"))
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(f"PRAGMA wal_autocheckpoint={0 if mode == 'wal-idle' else WAL_CHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            conn.execute("CREATE TABLE chunks (blob_id INTEGER, seq INTEGER, data BLOB, PRIMARY KEY (blob_id, seq))")
            self.conn = conn

    def write(self, pieces: list[bytes], offset: int) -> None:
        if self.fd >= 0:
            for piece in pieces:
                os.pwrite(self.fd, piece, offset)
                offset += len(piece)
            return
        conn = self.conn
        if conn is None:
            return
        self.seq += 1
        conn.execute("BEGIN IMMEDIATE")
        rowid = conn.execute("INSERT INTO chunks VALUES (1, ?, zeroblob(?)) RETURNING rowid",
                             (self.seq, sum(len(p) for p in pieces))).fetchone()[0]
        with conn.blobopen("chunks", "data", rowid) as blob:
            for piece in pieces:
                blob.write(piece)
        conn.execute("COMMIT")
        if self.seq % 64 == 0:
            conn.execute("DELETE FROM chunks")


def _update(digest: Any, pieces: list[bytes]) -> None:
    for piece in pieces:
        digest.update(piece)


def make_app(mode: str, directory: Path) -> Any:
    store = Store(mode, directory)
    # One thread each, as the emulator's pipeline: the store is written by one thread, in order.
    md5_pool, sha1_pool, write_pool = (ThreadPoolExecutor(1) for _ in range(3))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("PUT", "POST"):
            await floor_app.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        md5, sha1 = hashlib.md5(), hashlib.sha1()
        inflight: list[asyncio.Future[Any]] = []
        parts: list[bytes] = []
        buffered = offset = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            data = message.get("body", b"")
            more = message.get("more_body", False)
            if data:
                parts.append(data)
                buffered += len(data)
            if parts and (buffered >= CHUNK or not more):
                work = [loop.run_in_executor(md5_pool, _update, md5, parts),
                        loop.run_in_executor(sha1_pool, _update, sha1, parts)]
                if mode != "sha1":
                    work.append(loop.run_in_executor(write_pool, store.write, parts, offset))
                inflight.append(asyncio.gather(*work))
                offset += buffered
                parts, buffered = [], 0
                while len(inflight) >= DEPTH:
                    await inflight.pop(0)
        for pending in inflight:
            await pending
        digest = md5.hexdigest().encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(digest)).encode())]})
        await send({"type": "http.response.body", "body": digest})
        if mode == "wal-idle" and store.conn is not None:
            conn = store.conn
            write_pool.submit(lambda: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bound-") as tmp:
        uvicorn.run(make_app(args.mode, Path(tmp)), host=args.host, port=args.port, log_level=args.log_level,
                    access_log=False, server_header=False)


if __name__ == "__main__":
    main()
