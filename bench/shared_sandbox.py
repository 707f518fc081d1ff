#!/usr/bin/env python
"""Shared sandboxes (issue 16): PostgreSQL vs SQLite, and 1, 2 and 4 worker processes.

    python bench/shared_sandbox.py                    # 64 MiB transfers, 5 s per load run
    python bench/shared_sandbox.py --size 256M --seconds 10 --clients 16

For each database (a SQLite file in a temp dir; a PostgreSQL server started for the run by
tests/pg_server.py, ``initdb`` + ``pg_ctl`` as in the tests) it starts ``storage-emulator serve
--no-rate-limits`` and measures:

- upload: one file of ``--size`` through the 123pan upload (create, presigned PUT of one slice,
  upload_complete), MB/s from the first call to completed;
- download: the same file back through its ``downloadURL``, MD5 checked, MB/s;
- small call: ``GET /v3/files`` (JPush, Basic auth: tenant lookup, journal entry, one query)
  one at a time on one keep-alive connection, p50 and p90 in ms;
- req/s: the same call from ``--clients`` keep-alive connections at once (two client processes,
  asyncio, raw HTTP/1.1) for ``--seconds``, with ``serve --workers 1``, ``2`` and ``4``.

The client shares the machine's cores with the server: on 2 cores, more workers than cores
compete with it. Compare ratios within one run, not absolutes across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import multiprocessing
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from pan123_upload import CLIENT_ID, CLIENT_SECRET, PLATFORM, Api, slice_body, upload  # noqa: E402
from upload_1gib import BLOCK, MiB, Server, free_port, parse_size  # noqa: E402

JPUSH = ("testjpushappkey000000001", "testjpushmastersecret001")
SMALL_PATH = "/v3/files"


@contextmanager
def serve(database_url: str | None, workers: int, tmp: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    cmd = [*shlex.split(f"{shlex.quote(sys.executable)} -m emulator"), "serve", "--port", str(port),
           "--data-dir", str(tmp / f"data-{port}"), "--log-level", "warning", "--no-rate-limits",
           "--workers", str(workers)]
    if database_url:
        cmd += ["--database-url", database_url]
    server = Server(f"emulator-{port}", cmd, f"{base}/_emulator/health", env, tmp)
    server.start(timeout=120)
    try:
        if workers > 1:  # every worker up: new connections until each has answered once
            seen: set[int] = set()
            deadline = time.monotonic() + 60
            while len(seen) < workers and time.monotonic() < deadline:
                seen.add(httpx.get(base + "/_emulator/health", headers={"Connection": "close"}).json()["pid"])
        yield base
    finally:
        server.stop()


def transfer(base: str, size: int) -> tuple[float, float]:
    """(upload MB/s, download MB/s) of one ``size`` file through 123pan."""
    block = os.urandom(BLOCK)
    etag = hashlib.md5(b"".join(slice_body(size, 0, size, block))).hexdigest()
    with httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0)) as http:
        http.post(f"{base}/_emulator/pan123/config", json={"async_seconds": 0, "slice_size": max(size, 1)})
        r = http.post(f"{base}/api/v1/access_token", headers=PLATFORM,
                      json={"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})
        api = Api(http, base)
        api.token = r.json()["data"]["accessToken"]
        times, file_id = upload(api, size, block, etag, "bench.bin")
        url = api.call(f"/api/v1/oss/file/detail?fileID={file_id}", method="GET")["downloadURL"]
        t0 = time.perf_counter()
        digest = hashlib.md5()
        got = 0
        with http.stream("GET", url) as resp:
            for piece in resp.iter_bytes(BLOCK):
                digest.update(piece)
                got += len(piece)
        seconds = time.perf_counter() - t0
        if got != size or digest.hexdigest() != etag:
            raise RuntimeError(f"download: {got} bytes, md5 {digest.hexdigest()} (expected {etag})")
    return size / MiB / times["total"], size / MiB / seconds


def latency(base: str, n: int) -> tuple[float, float]:
    """(p50, p90) ms of the small call, one at a time on one connection."""
    ms = []
    with httpx.Client(base_url=base, auth=JPUSH, timeout=30) as c:
        for _ in range(20):
            c.get(SMALL_PATH).raise_for_status()
        for _ in range(n):
            t0 = time.perf_counter()
            c.get(SMALL_PATH).raise_for_status()
            ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    return statistics.median(ms), ms[int(len(ms) * 0.9) - 1]


def _request(host: str, port: int) -> bytes:
    auth = base64.b64encode(f"{JPUSH[0]}:{JPUSH[1]}".encode()).decode()
    return (f"GET {SMALL_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Basic {auth}\r\n\r\n").encode()


async def _connection(host: str, port: int, until: float, counts: list[int]) -> None:
    request = _request(host, port)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace"))
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            counts[0] += 1
    finally:
        writer.close()


def _load(args: tuple[str, int, int, float]) -> int:
    host, port, connections, seconds = args
    counts = [0]
    until = time.monotonic() + seconds

    async def run() -> None:
        await asyncio.gather(*(_connection(host, port, until, counts) for _ in range(connections)))

    asyncio.run(run())
    return counts[0]


def throughput(base: str, clients: int, seconds: float) -> float:
    """Requests a second of the small call from ``clients`` connections (two client processes)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    _load((host, int(port), 2, 0.5))  # warm-up
    procs = 2
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        done = pool.map(_load, [(host, int(port), n, seconds) for n in per])
    return sum(done) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="64M", help="upload/download size (default 64M)")
    parser.add_argument("--calls", type=int, default=500, help="small calls timed one at a time (default 500)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections for req/s (default 16)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each req/s run (default 5)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts for req/s (default 1,2,4)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    size = parse_size(args.size)
    worker_counts = [int(w) for w in args.workers.split(",")]
    print(f"cores: {os.cpu_count()}; transfers of {size / MiB:.0f} MiB; small call GET {SMALL_PATH} (JPush); "
          f"req/s with {args.clients} connections for {args.seconds:.0f} s", flush=True)
    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-shared-") as tmp_name:
        tmp = Path(tmp_name)
        if args.no_postgres:
            pg = nullcontext(None)
        else:
            from pg_server import running_server

            pg = running_server()
        with pg as pg_server:
            databases = ["SQLite (WAL file)"] + (["PostgreSQL (local)"] if pg_server is not None else [])
            for label in databases:
                def url(label: str = label) -> str | None:
                    """A new database for each server (SQLite: in the server's own data dir)."""
                    return pg_server.create_database() if label.startswith("PostgreSQL") else None

                with serve(url(), 1, tmp) as base:
                    up, down = transfer(base, size)
                    p50, p90 = latency(base, args.calls)
                line = (f"{label:<22} upload {up:7.0f} MB/s   download {down:7.0f} MB/s   "
                        f"small call p50 {p50:6.2f} ms  p90 {p90:6.2f} ms")
                print(line, flush=True)
                rates = []
                for workers in worker_counts:
                    with serve(url(), workers, tmp) as base:
                        rate = throughput(base, args.clients, args.seconds)
                    rates.append(f"{rate:.0f}")
                    print(f"{label:<22} --workers {workers}: {rate:7.0f} req/s", flush=True)
                rows.append((label, f"{up:.0f}", f"{down:.0f}", f"{p50:.2f} / {p90:.2f}", " / ".join(rates)))
    print()
    counts = "/".join(map(str, worker_counts))
    print(f"| database | upload MB/s | download MB/s | small call p50 / p90 ms | req/s, {counts} workers |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
