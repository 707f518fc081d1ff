#!/usr/bin/env python
"""The emulator beside moto's S3 server and a bare uvicorn floor, side by side in one run (issue 17).

Three servers, one process each, on loopback:

- emulator: ``python -m emulator serve`` of THIS checkout (PYTHONPATH and cwd = the repository
  this script lives in), file-backed SQLite in a fresh temp dir, ``--log-level warning``,
  ``--no-rate-limits`` (the vendors' QPS limits would refuse the benched calls), ``EMULATOR_*``
  removed from its environment; ``--workers N`` passes ``--workers N``;
- moto: ``python -m moto.server -p P`` (moto 5's werkzeug server), S3 through presigned URLs
  made with boto3 (us-east-1, dummy credentials, one bucket);
- floor: bench/floor_app.py, a raw-ASGI uvicorn app (MD5 sink, bytes from memory, tiny JSON).

Each figure is the median of ``--runs`` runs, the servers interleaved run by run; the table at
the end compares one process with one process. ``--workers-table N`` reruns the throughput and
small PUT/download figures against ``serve --workers N`` in a second table.

    python bench/vs_moto.py                               # everything, 5 runs (a few minutes)
    python bench/vs_moto.py --only put,get --runs 3       # a subset
    python bench/vs_moto.py --only detail --emulator-only --runs 1   # quick iteration
    python bench/vs_moto.py --runs 1 --memory-size 256M --list-objects 100000

Figures: --only put (big presigned PUT), put1 (small PUTs), get, get1 (downloads), detail
(small-call latency), throughput (req/s from concurrent keep-alive clients), memory (server RSS
during one large upload; once), list (NextJoy get_file_list at 1k and at --list-objects
objects; emulator only), workers (the second table).

MB/s is 1e6 bytes/s. Exit status non-zero only if a step fails (wrong status, size or digest)
or a server will not start; the "met?" column is information.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import selectors
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# This checkout's emulator package (to seed its database) before any installed one.
sys.path[:0] = [str(HERE), str(ROOT)]

from floor_app import BLOCK_BYTES  # noqa: E402
from pan123_upload import CLIENT_ID, CLIENT_SECRET, PLATFORM, Api  # noqa: E402
from pan123_upload import upload as pan123_flow  # noqa: E402
from upload_1gib import (  # noqa: E402
    BLOCK,
    MEMORY_ALLOWANCE_MIB,
    MiB,
    Sampler,
    Server,
    body,
    free_port,
    md5_of_body,
    parse_size,
    proc_status,
    reset_hwm,
)

FIGURES = ("put", "put1", "get", "get1", "detail", "throughput", "memory", "list", "workers")
PER_RUN = ("put", "put1", "get", "get1", "detail", "throughput")  # interleaved, run by run
BUCKET = "bench"  # moto's
NEXTJOY = {"appid": "1001", "child_id": "1000"}  # fixtures/default.yaml's NextJoy tenant
NEXTJOY_SECRET = "test-nextjoy-app-secret"
LIST_PAGE = 1000  # get_file_list's page (emulator/apis/nextjoy/service.py PAGE_SIZE)
KEY_WIDTH = 8  # "obj/00000042": keys sort in number order


class Failure(Exception):
    """A step went wrong (status, size, digest): the run exits non-zero."""


def check(ok: bool, what: str) -> None:
    if not ok:
        raise Failure(what)


_variants = iter(range(1, 1 << 62))


def variant() -> bytes:
    """A 1 MiB block no earlier upload of this run used (8-byte counter prefix): no 秒传 reuse."""
    return next(_variants).to_bytes(8, "big") + BLOCK_BYTES[8:]


def timed_put(http: httpx.Client, url: str, size: int, block: bytes) -> tuple[float, httpx.Response]:
    sent = [0]
    t0 = time.perf_counter()
    resp = http.put(url, content=body(size, block, sent), headers={"Content-Length": str(size)})
    seconds = time.perf_counter() - t0
    check(resp.status_code == 200, f"PUT {url[:80]}: HTTP {resp.status_code} {resp.text[:300]}")
    check(sent[0] == size, f"PUT: client sent {sent[0]} bytes, meant {size}")
    return seconds, resp


def etag_of(resp: httpx.Response) -> str:
    return str(resp.headers.get("etag", "")).strip('"')


def timed_get(http: httpx.Client, url: str, size: int, md5: str | None = None) -> float:
    """Seconds to read ``url``'s body (1 MiB pieces, discarded); ``md5``: checked as it
    streams (only on untimed check downloads: hashing would steal a core from the server)."""
    digest = hashlib.md5() if md5 else None
    got = 0
    t0 = time.perf_counter()
    with http.stream("GET", url) as resp:
        check(resp.status_code == 200, f"GET {url[:80]}: HTTP {resp.status_code}")
        for piece in resp.iter_raw(BLOCK):
            got += len(piece)
            if digest:
                digest.update(piece)
    seconds = time.perf_counter() - t0
    check(got == size, f"GET {url[:80]}: {got} bytes, expected {size}")
    if digest:
        check(digest.hexdigest() == md5, f"GET {url[:80]}: md5 {digest.hexdigest()}, expected {md5}")
    return seconds


def raw_request(method: str, url: str, headers: dict[str, str] | None = None) -> bytes:
    """One HTTP/1.1 request as bytes, for the raw-socket load generator."""
    u = urlsplit(url)
    target = u.path + (f"?{u.query}" if u.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {u.netloc}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def median(values: list[float]) -> float:
    return statistics.median(values)


def p50_p90(ms: list[float]) -> tuple[float, float]:
    return statistics.median(ms), statistics.quantiles(ms, n=10)[8]


# -- the three servers, behind one interface -------------------------------------------------
class Target:
    """One server under test: PUT, download, small calls and the load generator's request."""

    name = ""

    def __init__(self, server: Server, base: str) -> None:
        self.server, self.base = server, base
        self.http = httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0))
        self.staged: dict[int, tuple[Callable[[], str], str]] = {}  # size -> (url maker, md5)

    @property
    def pid(self) -> int:
        assert self.server.proc is not None
        return self.server.proc.pid

    def put(self, size: int) -> float:
        """Seconds of the presigned PUT alone (anything before or after it untimed)."""
        raise NotImplementedError

    def stage_object(self, size: int, block: bytes, md5: str) -> Callable[[], str]:
        """Store an object of ``size`` bytes (untimed); returns what gives its download URL."""
        raise NotImplementedError

    def small_calls(self) -> dict[str, Callable[[], None]]:
        """Named small calls; the first is the headline one."""
        raise NotImplementedError

    def load_request(self) -> tuple[bytes, bool]:
        """(raw request, is HEAD) of the small call the throughput figure repeats."""
        raise NotImplementedError

    def big_upload(self, size: int) -> None:
        """The upload the memory figure watches."""
        raise NotImplementedError

    def stage(self, size: int) -> None:
        if size in self.staged:
            return
        block = variant()
        md5 = md5_of_body(size, block)
        url_of = self.stage_object(size, block, md5)
        timed_get(self.http, url_of(), size, md5)  # the bytes come back right: checked once, untimed
        self.staged[size] = (url_of, md5)

    def url(self, size: int) -> str:
        return self.staged[size][0]()

    def get(self, url: str, size: int) -> float:
        return timed_get(self.http, url, size)

    def close(self) -> None:
        self.http.close()


class Emulator(Target):
    """The 123pan image-hosting flow: create + get_upload_url, the presigned PUT, complete."""

    name = "emulator"

    def __init__(self, server: Server, base: str, slice_size: int) -> None:
        super().__init__(server, base)
        cfg = {"slice_size": slice_size, "async_seconds": 0}
        self.http.post(f"{base}/_emulator/pan123/config", json=cfg).raise_for_status()
        r = self.http.post(f"{base}/api/v1/access_token", headers=PLATFORM,
                           json={"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})
        check(r.status_code == 200 and r.json().get("code") == 0, f"access_token: {r.text[:300]}")
        self.api = Api(self.http, base)
        self.api.token = r.json()["data"]["accessToken"]
        self.headers = {**PLATFORM, "Authorization": f"Bearer {self.api.token}"}
        self.tiny_id = ""

    def _upload(self, size: int, block: bytes, md5: str, timed: bool = True) -> tuple[float, str]:
        api = self.api
        n = int.from_bytes(block[:8], "big")
        created = api.call("/upload/v1/oss/file/create",
                           {"parentFileID": "", "filename": f"bench-{n}.bin", "etag": md5, "size": size, "type": 1})
        check(not created["reuse"], "unexpected 秒传: the emulator already had these bytes")
        check(created["sliceSize"] >= size, f"slice size {created['sliceSize']} < {size}: raise slice_size")
        pre = created["preuploadID"]
        url = api.call("/upload/v1/oss/file/get_upload_url", {"preuploadID": pre, "sliceNo": 1})["presignedURL"]
        seconds, resp = timed_put(self.http, url, size, block)
        check(etag_of(resp) == md5, f"emulator PUT: ETag {etag_of(resp)}, expected {md5}")
        done = api.call("/upload/v1/oss/file/upload_complete", {"preuploadID": pre})
        while not done["completed"]:
            done = api.call("/upload/v1/oss/file/upload_async_result", {"preuploadID": pre})
        return seconds, str(done["fileID"])

    def put(self, size: int) -> float:
        block = variant()
        seconds, file_id = self._upload(size, block, md5_of_body(size, block))
        self.api.call("/api/v1/oss/file/delete", {"fileIDs": [file_id]})  # keeps the database small
        return seconds

    def detail(self, file_id: str) -> dict[str, Any]:
        return self.api.call(f"/api/v1/oss/file/detail?fileID={file_id}", method="GET")

    def stage_object(self, size: int, block: bytes, md5: str) -> Callable[[], str]:
        _, file_id = self._upload(size, block, md5)
        return lambda: str(self.detail(file_id)["downloadURL"])

    def _tiny(self) -> str:
        if not self.tiny_id:
            block = variant()
            self.tiny_id = self._upload(16, block, md5_of_body(16, block))[1]
        return self.tiny_id

    def small_calls(self) -> dict[str, Callable[[], None]]:
        url = f"{self.base}/api/v1/oss/file/detail?fileID={self._tiny()}"

        def detail() -> None:
            r = self.http.get(url, headers=self.headers)
            check(r.status_code == 200 and r.content.startswith(b'{"code":0'), f"detail: {r.text[:300]}")

        return {"detail": detail}

    def load_request(self) -> tuple[bytes, bool]:
        return raw_request("GET", f"{self.base}/api/v1/oss/file/detail?fileID={self._tiny()}", self.headers), False

    def big_upload(self, size: int) -> None:
        block = variant()
        pan123_flow(self.api, size, block, md5_of_body(size, block), f"memory-{size}.bin")


class Moto(Target):
    """S3 through presigned URLs made with boto3."""

    name = "moto"

    def __init__(self, server: Server, base: str) -> None:
        super().__init__(server, base)
        import boto3
        from botocore.config import Config

        self.s3 = boto3.client(
            "s3", endpoint_url=base, region_name="us-east-1", aws_access_key_id="testing",
            aws_secret_access_key="testing", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        self.s3.create_bucket(Bucket=BUCKET)
        self.s3.put_object(Bucket=BUCKET, Key="tiny", Body=b"0123456789abcdef")

    def presign(self, op: str, key: str) -> str:
        return str(self.s3.generate_presigned_url(op, Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600))

    def _put(self, key: str, size: int, block: bytes) -> float:
        md5 = md5_of_body(size, block)
        seconds, resp = timed_put(self.http, self.presign("put_object", key), size, block)
        check(etag_of(resp) == md5, f"moto PUT: ETag {etag_of(resp)}, expected {md5}")
        return seconds

    def put(self, size: int) -> float:
        return self._put(f"put-{size}", size, variant())

    def stage_object(self, size: int, block: bytes, md5: str) -> Callable[[], str]:
        key = f"get-{size}"
        self._put(key, size, block)
        return lambda: self.presign("get_object", key)

    def small_calls(self) -> dict[str, Callable[[], None]]:
        head, get, put = self.presign("head_object", "tiny"), self.presign("get_object", "tiny"), \
            self.presign("put_object", "tiny")
        tiny = b"0123456789abcdef"

        def call(method: str, url: str, content: bytes | None = None) -> Callable[[], None]:
            def one() -> None:
                r = self.http.request(method, url, content=content)
                check(r.status_code == 200, f"moto {method} tiny: HTTP {r.status_code} {r.text[:300]}")
            return one

        return {"HEAD": call("HEAD", head), "GET": call("GET", get), "PUT": call("PUT", put, tiny)}

    def load_request(self) -> tuple[bytes, bool]:
        return raw_request("HEAD", self.presign("head_object", "tiny")), True

    def big_upload(self, size: int) -> None:
        self._put("memory", size, variant())


class Floor(Target):
    name = "floor"

    def put(self, size: int) -> float:
        block = variant()
        seconds, resp = timed_put(self.http, f"{self.base}/sink", size, block)
        check(resp.text.strip() == md5_of_body(size, block), f"floor PUT: md5 {resp.text[:40]}")
        return seconds

    def stage_object(self, size: int, block: bytes, md5: str) -> Callable[[], str]:
        return lambda: f"{self.base}/blob/{size}"

    def stage(self, size: int) -> None:
        if size not in self.staged:  # the floor serves BLOCK_BYTES repeated, whatever was asked
            url = f"{self.base}/blob/{size}"
            timed_get(self.http, url, size, md5_of_body(size, BLOCK_BYTES))
            self.staged[size] = (lambda: url, "")

    def small_calls(self) -> dict[str, Callable[[], None]]:
        url = f"{self.base}/small"

        def head() -> None:
            r = self.http.head(url)
            check(r.status_code == 200, f"floor HEAD: HTTP {r.status_code}")

        return {"HEAD": head}

    def load_request(self) -> tuple[bytes, bool]:
        return raw_request("HEAD", f"{self.base}/small"), True

    def big_upload(self, size: int) -> None:
        self.put(size)


# -- starting servers ----------------------------------------------------------------------------
def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def emulator_server(tmp: Path, data_dir: Path, workers: int = 1, name: str = "emulator") -> tuple[Server, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--data-dir", str(data_dir),
           "--log-level", "warning", "--no-rate-limits"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    return Server(name, cmd, f"{base}/_emulator/health", server_env(), tmp, cwd=ROOT), base


def start_emulator(server: Server, base: str, workers: int = 1) -> None:
    server.start(timeout=120)
    seen: set[int] = set()  # every worker up: new connections until each has answered once
    deadline = time.monotonic() + 60
    while workers > 1 and len(seen) < workers and time.monotonic() < deadline:
        seen.add(httpx.get(f"{base}/_emulator/health", headers={"Connection": "close"}).json()["pid"])


def start_targets(kinds: list[str], tmp: Path, slice_size: int, servers: list[Server]) -> list[Target]:
    plans: list[tuple[str, Server, str]] = []
    for kind in kinds:
        if kind == "emulator":
            server, base = emulator_server(tmp, tmp / "data")
        else:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            if kind == "moto":
                server = Server("moto", [sys.executable, "-m", "moto.server", "-p", str(port)],
                                f"{base}/moto-api/", server_env(), tmp, cwd=ROOT)
            else:
                server = Server("floor", [sys.executable, str(HERE / "floor_app.py"), "--port", str(port),
                                          "--log-level", "warning"], f"{base}/small", server_env(), tmp, cwd=ROOT)
        servers.append(server)
        plans.append((kind, server, base))
    with ThreadPoolExecutor(len(plans)) as pool:  # the three start side by side
        list(pool.map(lambda p: p[1].start(timeout=120), plans))
    made: list[Target] = []
    for kind, server, base in plans:
        if kind == "emulator":
            made.append(Emulator(server, base, slice_size))
        elif kind == "moto":
            made.append(Moto(server, base))
        else:
            made.append(Floor(server, base))
    return made


# -- load generator: raw sockets, pipelined keep-alive requests, in processes -------------------
def _responses(buf: bytearray, head: bool) -> tuple[int, bool]:
    """(complete responses at the start of ``buf``, removed from it; whether the last said
    ``Connection: close``). Raises on a non-2xx response."""
    n = pos = 0
    close = False
    while True:
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        if buf[pos + 9] != ord("2"):
            raise RuntimeError(bytes(buf[pos:end]).decode(errors="replace"))
        length = 0
        if not head:
            at = buf.find(b"ontent-length:", pos, end)
            if at < 0:
                at = buf.find(b"ONTENT-LENGTH:", pos, end)
            stop = buf.find(b"\r\n", at, end + 2)
            length = int(buf[at + 14:stop])
        if len(buf) < end + 4 + length:
            break
        close = buf.find(b"onnection: close", pos, end) >= 0
        pos = end + 4 + length
        n += 1
    del buf[:pos]
    return n, close


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _load(job: tuple[str, int, bytes, bool, int, int, float, float]) -> int:
    """Responses received by ``connections`` keep-alive connections, each with ``depth``
    requests in flight, from wall-clock ``start_at`` for ``seconds``. A server that closes
    the connection after each answer (moto's werkzeug server does) gets one request per
    connection, a new connection for the next."""
    host, port, request, head, connections, depth, start_at, seconds = job
    sel = selectors.DefaultSelector()
    socks = [_connect(host, port) for _ in range(connections)]
    done = 0
    try:
        time.sleep(max(0.0, start_at - time.time()))
        end = start_at + seconds
        for sock in socks:
            sock.sendall(request * depth)
            sel.register(sock, selectors.EVENT_READ, [bytearray(), depth])
        while time.time() < end:
            for key, _ in sel.select(timeout=0.2):
                fileobj, state = key.fileobj, key.data
                assert isinstance(fileobj, socket.socket)
                sock = fileobj
                chunk = sock.recv(262144)
                if not chunk:
                    raise RuntimeError("the server closed a connection without answering")
                state[0] += chunk
                n, close = _responses(state[0], head)
                done += n
                state[1] -= n
                if close:  # the other requests in flight are lost: one at a time from now on
                    sel.unregister(sock)
                    sock.close()
                    sock = _connect(host, port)
                    socks.append(sock)
                    sock.sendall(request)
                    sel.register(sock, selectors.EVENT_READ, [bytearray(), 1])
                elif state[1] == 0:
                    state[1] = depth
                    sock.sendall(request * depth)
    finally:
        sel.close()
        for sock in socks:
            sock.close()
    return done


class Load:
    """Client processes, started once (spawn) and reused by every throughput figure."""

    def __init__(self, clients: int, procs: int, depth: int, seconds: float) -> None:
        self.clients, self.procs, self.depth, self.seconds = clients, max(1, min(procs, clients)), depth, seconds
        self.pool: Any = None

    def rate(self, target: Target) -> float:
        if self.pool is None:
            self.pool = multiprocessing.get_context("spawn").Pool(self.procs)
        request, head = target.load_request()
        u = urlsplit(target.base)
        host, port = u.hostname or "127.0.0.1", u.port or 80
        _load((host, port, request, head, 1, self.depth, time.time(), 0.3))  # warm-up
        per = [self.clients // self.procs + (1 if i < self.clients % self.procs else 0) for i in range(self.procs)]
        start_at = time.time() + 0.3
        done = self.pool.map(_load, [(host, port, request, head, n, self.depth, start_at, self.seconds) for n in per])
        return float(sum(done)) / self.seconds

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


# -- the figures --------------------------------------------------------------------------------
Results = dict[str, dict[str, list[float]]]  # figure -> server -> one value per run


def note(text: str) -> None:
    print(text, flush=True)


def run_put(t: Target, size: int) -> float:
    return size / t.put(size) / 1e6


def run_put_small(t: Target, size: int, count: int) -> float:
    return size / median([t.put(size) for _ in range(count)]) / 1e6


def run_get(t: Target, size: int, count: int) -> float:
    url = t.url(size)
    return size / median([t.get(url, size) for _ in range(count)]) / 1e6


def run_calls(t: Target, warm: int, calls: int) -> dict[str, tuple[float, float]]:
    out = {}
    for name, call in t.small_calls().items():
        for _ in range(warm):
            call()
        ms = []
        for _ in range(calls):
            t0 = time.perf_counter()
            call()
            ms.append((time.perf_counter() - t0) * 1000)
        out[name] = p50_p90(ms)
    return out


def per_run(figures: set[str], targets: list[Target], args: argparse.Namespace, load: Load, res: Results) -> None:
    for t in targets:  # what the downloads read, stored and checked once (untimed)
        if "get" in figures:
            t.stage(args.size)
        if "get1" in figures:
            t.stage(args.small_size)
    for run in range(1, args.runs + 1):
        for fig in [f for f in PER_RUN if f in figures]:
            line = []
            for t in targets:
                if fig == "put":
                    value = run_put(t, args.size)
                elif fig == "put1":
                    value = run_put_small(t, args.small_size, args.small_count)
                elif fig == "get":
                    value = run_get(t, args.size, 1)
                elif fig == "get1":
                    value = run_get(t, args.small_size, args.small_count)
                elif fig == "throughput":
                    value = load.rate(t)
                else:  # detail
                    calls = run_calls(t, args.warmup, args.calls)
                    for i, (name, (p50, p90)) in enumerate(calls.items()):
                        key = "detail" if i == 0 else f"detail.{name}"
                        res.setdefault(key, {}).setdefault(t.name, []).append(p50)
                        res.setdefault(key + ".p90", {}).setdefault(t.name, []).append(p90)
                    line.append(f"{t.name} " + ", ".join(f"{n} {a:.2f}/{b:.2f} ms" for n, (a, b) in calls.items()))
                    continue
                res.setdefault(fig, {}).setdefault(t.name, []).append(value)
                line.append(f"{t.name} {value:.1f}")
            note(f"run {run} {fig:<10} " + "; ".join(line))


def run_memory(t: Target, size: int) -> tuple[float, float]:
    """(peak sampled RSS - idle, VmHWM - idle) in MiB of the server during one ``size`` upload."""
    t.big_upload(5 * MiB + 123)  # warm-up: every code path of the upload once
    time.sleep(0.5)
    idle = proc_status(t.pid)["VmRSS"]
    hwm_reset = reset_hwm(t.pid)
    sampler = Sampler(t.pid, 0.05)
    sampler.start()
    try:
        t.big_upload(size)
    finally:
        sampler.stop()
    end = proc_status(t.pid)
    peak = max(sampler.peak["VmRSS"], end["VmRSS"])
    hwm = end["VmHWM"] if hwm_reset else float("nan")
    note(f"memory {t.name}: idle {idle / MiB:.1f} MiB, peak {peak / MiB:.1f} MiB, VmHWM {hwm / MiB:.1f} MiB "
         f"({sampler.samples} samples)")
    return (peak - idle) / MiB, (hwm - idle) / MiB


# -- NextJoy listing at 1k and at many objects -------------------------------------------------
class NextJoy:
    """Signed NextJoy calls (MD5 of the sorted ``name|value#`` string plus the app secret)."""

    def __init__(self, http: httpx.Client, base: str) -> None:
        self.http, self.base = http, base
        self.skew = int(http.get(f"{base}/_emulator/clock").json()["now"]) - int(time.time())

    def params(self, **extra: str) -> dict[str, str]:
        from emulator.apis.nextjoy.auth import compute_sign

        p = {**NEXTJOY, "timestamp": str(int(time.time()) + self.skew), **extra}
        p["sign"] = compute_sign(p, NEXTJOY_SECRET)
        return p

    def call(self, name: str, **extra: str) -> dict[str, Any]:
        r = self.http.post(f"{self.base}/upload_token/{name}", data=self.params(**extra))
        doc: dict[str, Any] = r.json()
        check(r.status_code == 200 and doc.get("status") == 200, f"NextJoy {name}: {r.text[:300]}")
        return doc

    def upload(self, key: str, data: bytes) -> dict[str, Any]:
        token = self.call("get")["data"]["upload_token"]
        r = self.http.post(f"{self.base}/_qiniu/up", data={"token": token, "key": key},
                           files={"file": ("seed.bin", data, "application/octet-stream")})
        check(r.status_code == 200, f"Qiniu form upload: HTTP {r.status_code} {r.text[:300]}")
        doc: dict[str, Any] = r.json()
        return doc


def key_of(i: int) -> str:
    return f"obj/{i:0{KEY_WIDTH}d}"


def seed_objects(db_path: Path, have: int, total: int) -> float:
    """Rows ``have`` .. ``total`` - 1 of the bucket, straight into the (stopped) server's SQLite
    file: all of them the one blob the seed upload stored, its refcount raised to match."""
    from sqlalchemy import create_engine, insert, select, update

    from emulator.apis.nextjoy.models import QiniuObject
    from emulator.core.blobs import Blob
    from emulator.core.db import table_of

    objects, blobs = table_of(QiniuObject), table_of(Blob)
    t0 = time.perf_counter()
    engine = create_engine(f"sqlite:///{db_path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            seed = dict(conn.execute(select(objects).where(objects.c.key == "seed")).mappings().one())
            for start in range(have, total, 50_000):
                rows = [{**seed, "key": key_of(i)} for i in range(start, min(total, start + 50_000))]
                conn.execute(insert(objects), rows)
            conn.execute(update(blobs).where(blobs.c.id == seed["blob_id"])
                         .values(refcount=blobs.c.refcount + (total - have)))
    finally:
        engine.dispose()
    return time.perf_counter() - t0


def list_p50(nj: NextJoy, marker: str, calls: int, warm: int = 5) -> float:
    ms = []
    for i in range(warm + calls):
        params = nj.params(marker=marker, prefix="")
        t0 = time.perf_counter()
        r = nj.http.post(f"{nj.base}/upload_token/get_file_list", data=params)
        elapsed = (time.perf_counter() - t0) * 1000
        doc = r.json()
        check(r.status_code == 200 and doc.get("status") == 200, f"get_file_list: {r.text[:300]}")
        check(len(doc["data"]["data"]) == LIST_PAGE, f"get_file_list: {len(doc['data']['data'])} items")
        if i >= warm:
            ms.append(elapsed)
    return statistics.median(ms)


def run_list(tmp: Path, servers: list[Server], big: int, calls: int) -> dict[str, float]:
    from emulator.apis.nextjoy.qiniu import encode_marker

    data_dir = tmp / "list-data"
    out: dict[str, float] = {}
    have = 0
    with httpx.Client(timeout=120) as http:
        for total in (LIST_PAGE, big):
            server, base = emulator_server(tmp, data_dir, name=f"emulator-list-{total}")
            servers.append(server)
            if have:
                out[f"seed {total}"] = seed_objects(data_dir / "emulator.db", have, total)
                note(f"list: {total - have} rows seeded in {out[f'seed {total}']:.1f} s")
            start_emulator(server, base)
            nj = NextJoy(http, base)
            if not have:  # the one real blob every row references
                nj.upload("seed", os.urandom(1024))
                server.stop()
                out[f"seed {total}"] = seed_objects(data_dir / "emulator.db", 0, total)
                start_emulator(server, base)
            have = total
            out[f"first {total}"] = list_p50(nj, "", calls)
            if total >= 2 * LIST_PAGE:
                out[f"middle {total}"] = list_p50(nj, encode_marker(key_of(total // 2 - 1)), calls)
            note(f"list at {total} objects: first page p50 {out[f'first {total}']:.1f} ms"
                 + (f", middle page {out[f'middle {total}']:.1f} ms" if f"middle {total}" in out else ""))
            server.stop()
    return out


# -- tables ---------------------------------------------------------------------------------------
def fmt(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def med(res: Results, fig: str, who: str) -> float | None:
    values = res.get(fig, {}).get(who)
    return statistics.median(values) if values else None


def ratio_text(e: float | None, m: float | None, f: float | None) -> str:
    parts = [f"{e / m:.2f}× moto" if e and m else "", f"{e / f:.2f}× floor" if e and f else ""]
    return ", ".join(p for p in parts if p) or "—"


def verdict(checks: list[bool | None]) -> str:
    known = [c for c in checks if c is not None]
    return "—" if not known else ("yes" if all(known) else "no")


def at_least(e: float | None, other: float | None, k: float) -> bool | None:
    return None if e is None or other is None else e >= k * other


def main_table(res: Results, memory: dict[str, tuple[float, float]], listing: dict[str, float],
               args: argparse.Namespace) -> list[str]:
    big, small, n = size_label(args.size), size_label(args.small_size), args.small_count
    rows: list[tuple[str, ...]] = []

    def rate_row(label: str, fig: str, goal: str, k_moto: float | None, k_floor: float | None) -> None:
        e, m, f = med(res, fig, "emulator"), med(res, fig, "moto"), med(res, fig, "floor")
        if e is None and m is None and f is None:
            return
        checks = [at_least(e, m, k_moto) if k_moto else None, at_least(e, f, k_floor) if k_floor else None]
        rows.append((label, fmt(e), fmt(m), fmt(f), ratio_text(e, m, f), goal,
                     verdict(checks) if goal != "—" else "—"))

    rate_row(f"{big} presigned PUT (MB/s)", "put", "≥ 2× moto, ≥ 0.9× floor", 2, 0.9)
    rate_row(f"{small} presigned PUT (MB/s, median of {n})", "put1", "≥ 1.4× moto", 1.4, None)
    rate_row(f"{big} download (MB/s)", "get", "≥ 1.5× moto, ≥ 0.75× floor", 1.5, 0.75)
    rate_row(f"{small} download (MB/s, median of {n})", "get1", "≥ 1.5× moto", 1.5, None)
    e, m, f = med(res, "detail", "emulator"), med(res, "detail", "moto"), med(res, "detail", "floor")
    if any(v is not None for v in (e, m, f)):
        ok = None if e is None or m is None else e <= 0.5 * m
        rows.append(("detail call p50 (ms): emulator detail, moto HEAD, floor HEAD", fmt(e, 2), fmt(m, 2), fmt(f, 2),
                     ratio_text(e, m, f), "≤ 0.5× moto HEAD", verdict([ok])))
        e, m, f = (med(res, "detail.p90", w) for w in ("emulator", "moto", "floor"))
        rows.append(("detail call p90 (ms)", fmt(e, 2), fmt(m, 2), fmt(f, 2), ratio_text(e, m, f), "—", "—"))
        for name in ("GET", "PUT"):
            p50, p90 = med(res, f"detail.{name}", "moto"), med(res, f"detail.{name}.p90", "moto")
            if p50 is not None:
                rows.append((f"moto presigned {name} of a 16-byte object, p50 (p90) ms", "—",
                             f"{p50:.2f} ({fmt(p90, 2)})", "—", "—", "—", "—"))
    rate_row(f"small calls, {args.clients} keep-alive clients (req/s)", "throughput", "—", None, None)
    if memory:
        cells = {k: f"+{a:.1f} (HWM +{b:.1f})" for k, (a, b) in memory.items()}
        e_mem = memory.get("emulator")
        ok = None if e_mem is None else max(e_mem) <= MEMORY_ALLOWANCE_MIB
        rows.append((f"server memory during a {size_label(args.memory_size)} upload, peak RSS − idle (MiB)",
                     cells.get("emulator", "—"), cells.get("moto", "—"), cells.get("floor", "—"), "—",
                     f"≤ +{MEMORY_ALLOWANCE_MIB} MiB", verdict([ok])))
    if listing:
        big_n = args.list_objects
        first_k = listing.get(f"first {LIST_PAGE}")
        rows.append(("NextJoy get_file_list p50, 1,000 items, bucket of 1k (ms)", fmt(first_k, 2), "—", "—", "—",
                     "—", "—"))
        first_m, middle_m = listing.get(f"first {big_n}"), listing.get(f"middle {big_n}")
        if first_m is not None:
            rows.append((f"get_file_list p50 at {big_n:,} objects: first page / middle page (ms)",
                         f"{first_m:.2f} / {fmt(middle_m, 2)}", "—", "—", "—", "—", "—"))
            worst = max(first_m, middle_m or 0.0)
            r = worst / first_k if first_k else None
            rows.append((f"list p50 at {big_n:,} / at 1k (worse page)", f"{fmt(r, 2)}×", "—", "—", "—", "≤ 2×",
                         verdict([None if r is None else r <= 2])))
    return markdown(("figure", "emulator", "moto", "floor", "ratio (× moto, × floor)", "goal", "met?"), rows)


def workers_table(res: Results, wres: Results, args: argparse.Namespace) -> list[str]:
    n = args.workers_table
    rows = []
    for fig, label in (("throughput", f"small calls, {args.clients} keep-alive clients (req/s)"),
                       ("put1", f"{size_label(args.small_size)} presigned PUT (MB/s)"),
                       ("get1", f"{size_label(args.small_size)} download (MB/s)")):
        w = med(wres, fig, "emulator")
        if w is None:
            continue
        one, m, f = med(res, fig, "emulator"), med(res, fig, "moto"), med(res, fig, "floor")
        rows.append((label, fmt(one), fmt(w), fmt(m), fmt(f), ratio_text(w, m, f)))
    return markdown(("figure", "emulator, 1 process", f"emulator, --workers {n}", "moto (1 process)",
                     "floor (1 process)", f"ratio of --workers {n} (× moto, × floor)"), rows)


def markdown(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def size_label(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


# -- main ---------------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="paired runs per figure, medians reported (default 5)")
    p.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(FIGURES)}")
    p.add_argument("--emulator-only", action="store_true", help="no moto, no floor (quick iterations)")
    p.add_argument("--size", type=parse_size, default=100 * MiB, help="the big PUT and download (default 100M)")
    p.add_argument("--small-size", type=parse_size, default=MiB, help="the small PUTs and downloads (default 1M)")
    p.add_argument("--small-count", type=int, default=30, help="small PUTs / downloads per run (default 30)")
    p.add_argument("--calls", type=int, default=300, help="timed small calls per run (default 300)")
    p.add_argument("--warmup", type=int, default=30, help="untimed small calls first (default 30)")
    p.add_argument("--clients", type=int, default=8, help="concurrent connections for req/s (default 8)")
    p.add_argument("--client-procs", type=int, default=2, help="client processes for req/s (default 2)")
    p.add_argument("--pipeline", type=int, default=4, help="requests in flight per connection (default 4)")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each req/s run (default 3)")
    p.add_argument("--memory-size", type=parse_size, default=1 << 30, help="the watched upload (default 1G)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory figure")
    p.add_argument("--list-objects", type=int, default=1_000_000, help="the big bucket (default 1000000)")
    p.add_argument("--list-calls", type=int, default=30, help="timed get_file_list calls per page (default 30)")
    p.add_argument("--no-list", action="store_true", help="skip the listing figures")
    p.add_argument("--workers-table", type=int, default=2, help="serve --workers N for the second table; 0: skip")
    args = p.parse_args()
    only = {f.strip() for f in args.only.split(",") if f.strip()}
    unknown = only - set(FIGURES)
    if unknown:
        p.error(f"--only: unknown {', '.join(sorted(unknown))} (choose from {', '.join(FIGURES)})")
    figures = only or set(FIGURES)
    if args.no_memory:
        figures.discard("memory")
    if args.no_list:
        figures.discard("list")
    if args.workers_table <= 0:
        figures.discard("workers")
    args.figures = figures
    return args


def main() -> int:
    args = parse_args()
    figures: set[str] = args.figures
    started = time.monotonic()
    note(f"vs_moto: figures {', '.join(f for f in FIGURES if f in figures)}; {args.runs} run(s); "
         f"{os.cpu_count()} cores; emulator from {ROOT}")
    res: Results = {}
    wres: Results = {}
    memory: dict[str, tuple[float, float]] = {}
    listing: dict[str, float] = {}
    servers: list[Server] = []
    targets: list[Target] = []
    load = Load(args.clients, args.client_procs, args.pipeline, args.seconds)
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-vs-moto-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            if figures & {*PER_RUN, "memory"}:
                kinds = ["emulator"] + ([] if args.emulator_only else ["moto", "floor"])
                slice_size = max(100 * MiB, args.size, args.small_size)
                targets = start_targets(kinds, tmp, slice_size, servers)
                per_run(figures, targets, args, load, res)
                if "memory" in figures:
                    for t in targets:
                        memory[t.name] = run_memory(t, args.memory_size)
            if "list" in figures:
                listing = run_list(tmp, servers, args.list_objects, args.list_calls)
            if "workers" in figures:
                n = args.workers_table
                server, base = emulator_server(tmp, tmp / "data-workers", n, f"emulator-workers-{n}")
                servers.append(server)
                start_emulator(server, base, n)
                t = Emulator(server, base, max(100 * MiB, args.small_size))
                targets.append(t)
                t.stage(args.small_size)
                steps: list[tuple[str, Callable[[], float]]] = [
                    ("throughput", lambda: load.rate(t)),
                    ("put1", lambda: run_put_small(t, args.small_size, args.small_count)),
                    ("get1", lambda: run_get(t, args.small_size, args.small_count)),
                ]
                for run in range(1, args.runs + 1):
                    for fig, fn in steps:
                        value = fn()
                        wres.setdefault(fig, {}).setdefault("emulator", []).append(value)
                        note(f"run {run} {fig:<10} emulator --workers {n} {value:.1f}")
        except (Failure, RuntimeError, httpx.HTTPError, OSError) as exc:
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            for server in servers:
                if server.proc is not None:
                    print(f"--- {server.name} log (tail) ---\n{server.log()[-1500:]}", file=sys.stderr)
            failed = True
        finally:
            load.close()
            for t in targets:
                t.close()
            for server in reversed(servers):
                server.stop()
    lines = main_table(res, memory, listing, args)
    if wres:
        lines += ["", *workers_table(res, wres, args)]
    print()
    print("\n".join(lines))
    print(f"\n{args.runs} run(s), medians; whole run {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
