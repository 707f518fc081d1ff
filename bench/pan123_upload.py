#!/usr/bin/env python
"""A large file (default 1 GiB) through the 123pan six-step upload against a live server.

Starts ``python -m emulator serve`` with a fresh temp ``--data-dir``, fetches an access
token, then create → get_upload_url + presigned PUT per slice (documented 100 MiB slices
unless ``--slice``) → upload_complete → upload_async_result until completed (the server
MD5s the assembled slices), and optionally downloads the file back through its
``downloadURL`` and checks its MD5. Prints MB/s per phase and the server's memory: idle
VmRSS after a warm-up, peak VmRSS sampled every 50 ms, VmHWM (reset after the warm-up),
against the DESIGN target "peak RSS <= idle + 16 MiB".

    python bench/pan123_upload.py --size 1G
    python bench/pan123_upload.py --size 1G --slice 16M --download
    python bench/pan123_upload.py --size 1G --v2 --download

``--v2``: the cloud disk's upload v2 instead (create → one multipart POST per slice to
``servers[0]`` with its MD5, documented 16 MiB slices unless ``--slice`` → upload_complete
until completed; downloaded back through ``download_info``).

Exit code non-zero only if a step fails or the server will not start.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from upload_1gib import (  # noqa: E402
    BLOCK,
    MEMORY_ALLOWANCE_MIB,
    MiB,
    Sampler,
    Server,
    cpu_seconds,
    free_port,
    mib,
    parse_size,
    proc_status,
    rate,
    reset_hwm,
)

CLIENT_ID, CLIENT_SECRET = "test-pan123-client", "test-pan123-secret"
PLATFORM = {"Platform": "open_platform"}


def slice_body(size: int, offset: int, length: int, block: bytes):
    """Bytes [offset, offset+length) of the virtual file (``block`` repeated), 1 MiB at a time."""
    pos = offset
    end = offset + length
    while pos < end:
        start = pos % len(block)
        n = min(len(block) - start, end - pos)
        yield block[start:start + n]
        pos += n


class Api:
    def __init__(self, http: httpx.Client, base: str) -> None:
        self.http, self.base, self.token = http, base, ""

    def call(self, path: str, body: dict | None = None, method: str = "POST") -> dict:
        headers = {**PLATFORM, "Authorization": f"Bearer {self.token}"}
        r = self.http.request(method, self.base + path, json=body, headers=headers)
        doc = r.json()
        if r.status_code != 200 or doc.get("code") != 0:
            raise RuntimeError(f"{path}: HTTP {r.status_code} {doc}")
        return doc["data"]


def upload(api: Api, size: int, block: bytes, etag: str, name: str) -> tuple[dict[str, float], str]:
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    created = api.call("/upload/v1/oss/file/create",
                       {"parentFileID": "", "filename": name, "etag": etag, "size": size, "type": 1})
    if created["reuse"]:
        raise RuntimeError("unexpected 秒传: the emulator already had these bytes")
    pre, slice_size = created["preuploadID"], created["sliceSize"]
    count = -(-size // slice_size)
    for n in range(count):
        url = api.call("/upload/v1/oss/file/get_upload_url", {"preuploadID": pre, "sliceNo": n + 1})["presignedURL"]
        length = min(slice_size, size - n * slice_size)
        r = api.http.put(url, content=slice_body(size, n * slice_size, length, block),
                         headers={"Content-Length": str(length)})
        if r.status_code != 200:
            raise RuntimeError(f"PUT slice {n + 1}: HTTP {r.status_code} {r.text[:300]}")
    t1 = time.perf_counter()
    done = api.call("/upload/v1/oss/file/upload_complete", {"preuploadID": pre})
    while not done["completed"]:
        done = api.call("/upload/v1/oss/file/upload_async_result", {"preuploadID": pre})
    t2 = time.perf_counter()
    times["puts"] = t1 - t0
    times["complete"] = t2 - t1
    times["total"] = t2 - t0
    times["slices"] = count
    return times, done["fileID"]


def multipart_slice(pre: str, n: int, slice_md5: str, size: int, offset: int, length: int, block: bytes):
    """(body iterator, Content-Type, Content-Length) of one upload v2 slice: the three fields,
    then the slice bytes streamed 1 MiB at a time (never the whole slice in memory)."""
    boundary = "bench" + hashlib.md5(f"{pre}{n}".encode()).hexdigest()
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in (("preuploadID", pre), ("sliceNo", str(n)), ("sliceMD5", slice_md5))
    ) + (f'--{boundary}\r\nContent-Disposition: form-data; name="slice"; filename="slice_{n}"\r\n'
         "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        yield from slice_body(size, offset, length, block)
        yield tail

    return body(), f"multipart/form-data; boundary={boundary}", len(head) + length + len(tail)


def upload_v2(api: Api, size: int, block: bytes, etag: str, name: str) -> tuple[dict[str, float], int]:
    times: dict[str, float] = {}
    slice_size = api.http.get(api.base + "/_emulator/pan123/config").json()["v2_slice_size"]
    md5s = []  # each slice's MD5, untimed (the six-step flow's client computes none either)
    for offset in range(0, size, slice_size):
        h = hashlib.md5()
        for piece in slice_body(size, offset, min(slice_size, size - offset), block):
            h.update(piece)
        md5s.append(h.hexdigest())
    t0 = time.perf_counter()
    created = api.call("/upload/v2/file/create",
                       {"parentFileID": 0, "filename": name, "etag": etag, "size": size, "duplicate": 2})
    if created["reuse"]:
        raise RuntimeError("unexpected 秒传: the emulator already had these bytes")
    pre, slice_size, server = created["preuploadID"], created["sliceSize"], created["servers"][0]
    count = -(-size // slice_size)
    for n in range(count):
        offset, length = n * slice_size, min(slice_size, size - n * slice_size)
        body, ctype, clen = multipart_slice(pre, n + 1, md5s[n], size, offset, length, block)
        headers = {**PLATFORM, "Authorization": f"Bearer {api.token}", "Content-Type": ctype,
                   "Content-Length": str(clen)}
        r = api.http.post(server + "/upload/v2/file/slice", content=body, headers=headers)
        if r.status_code != 200 or r.json().get("code") != 0:
            raise RuntimeError(f"slice {n + 1}: HTTP {r.status_code} {r.text[:300]}")
    t1 = time.perf_counter()
    done = api.call("/upload/v2/file/upload_complete", {"preuploadID": pre})
    while not done["completed"]:
        time.sleep(0.05)
        done = api.call("/upload/v2/file/upload_complete", {"preuploadID": pre})
    t2 = time.perf_counter()
    times.update(puts=t1 - t0, complete=t2 - t1, total=t2 - t0, slices=count)
    return times, done["fileID"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="file size (1G, 100M, ...); default 1G")
    parser.add_argument("--slice", type=parse_size, default=None, help="slice size (default: documented 100 MiB)")
    parser.add_argument("--download", action="store_true", help="also download it back and check the MD5")
    parser.add_argument("--v2", action="store_true", help="the cloud disk's upload v2 (multipart slices)")
    parser.add_argument("--interval", type=float, default=0.05, help="RSS sampling interval, seconds")
    args = parser.parse_args()
    size: int = args.size

    block = random.Random(20240601).randbytes(BLOCK)
    h = hashlib.md5()
    for piece in slice_body(size, 0, size, block):
        h.update(piece)
    etag = h.hexdigest()
    print(f"size:                {size} bytes ({mib(size)}); md5 {etag} (untimed)")

    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-pan123-") as tmp:
        tmpdir = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = Server("emulator", [*shlex.split(f"{shlex.quote(sys.executable)} -m emulator"), "serve", "--port",
                                     str(port), "--data-dir", str(tmpdir / "data"), "--log-level", "warning"],
                        f"{base}/_emulator/health", env, tmpdir)
        try:
            server.start()
            assert server.proc is not None
            pid = server.proc.pid
            with httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0)) as http:
                api = Api(http, base)
                cfg = {"async_seconds": 0}
                if args.slice:
                    cfg["slice_size" if not args.v2 else "v2_slice_size"] = args.slice
                http.post(f"{base}/_emulator/pan123/config", json=cfg).raise_for_status()
                r = http.post(f"{base}/api/v1/access_token", headers=PLATFORM,
                              json={"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})
                api.token = r.json()["data"]["accessToken"]
                # warm-up: every code path once, with small slices
                flow = upload_v2 if args.v2 else upload
                key = "v2_slice_size" if args.v2 else "slice_size"
                default_slice = 16777216 if args.v2 else 104857600
                http.post(f"{base}/_emulator/pan123/config", json={key: 2 * MiB}).raise_for_status()
                warm = 5 * MiB + 123
                wh = hashlib.md5(b"".join(slice_body(warm, 7, warm, block))).hexdigest()
                flow(api, warm, block[7:] + block[:7], wh, "warm.bin")
                http.post(f"{base}/_emulator/pan123/config",
                          json={key: args.slice or default_slice}).raise_for_status()
                time.sleep(0.5)
                idle = proc_status(pid)
                hwm_reset = reset_hwm(pid)
                sampler = Sampler(pid, args.interval)
                sampler.start()
                cpu0 = cpu_seconds(pid)
                try:
                    times, file_id = flow(api, size, block, etag, "big.bin")
                    dl_seconds = None
                    if args.download:
                        if args.v2:
                            url = api.call(f"/api/v1/file/download_info?fileId={file_id}", method="GET")["downloadUrl"]
                        else:
                            url = api.call(f"/api/v1/oss/file/detail?fileID={file_id}", method="GET")["downloadURL"]
                        t0 = time.perf_counter()
                        dh = hashlib.md5()
                        got = 0
                        with http.stream("GET", url) as resp:
                            for piece in resp.iter_bytes(BLOCK):
                                dh.update(piece)
                                got += len(piece)
                        dl_seconds = time.perf_counter() - t0
                        if got != size or dh.hexdigest() != etag:
                            raise RuntimeError(f"download: {got} bytes, md5 {dh.hexdigest()} (expected {etag})")
                finally:
                    sampler.stop()
                cpu1 = cpu_seconds(pid)
                end = proc_status(pid)
            print(f"flow:                {'upload v2 (multipart slices)' if args.v2 else 'six-step (presigned PUTs)'}")
            print(f"slices:              {int(times['slices'])} x {mib(args.slice or default_slice)}")
            print(f"create + slices:     {times['puts']:8.3f} s  {rate(size, times['puts'])}")
            print(f"complete → done:     {times['complete']:8.3f} s  (server MD5 of the assembled slices)")
            print(f"whole upload:        {times['total']:8.3f} s  {rate(size, times['total'])}")
            if dl_seconds is not None:
                print(f"download (md5 ok):   {dl_seconds:8.3f} s  {rate(size, dl_seconds)}")
            print(f"server CPU s:        {cpu1[0] - cpu0[0]:.2f} user + {cpu1[1] - cpu0[1]:.2f} sys")
            peak_rss = max(sampler.peak["VmRSS"], end["VmRSS"])
            print(f"server idle RSS:     {mib(idle['VmRSS'])}")
            print(f"peak sampled RSS:    {mib(peak_rss)}  ({sampler.samples} samples)")
            print(f"VmHWM:               {mib(end['VmHWM'])}  ({'reset after warm-up' if hwm_reset else 'NOT reset'})")
            worst = max(peak_rss, end["VmHWM"]) if hwm_reset else peak_rss
            verdict = "PASS" if worst <= idle["VmRSS"] + MEMORY_ALLOWANCE_MIB * MiB else "FAIL"
            print(f"peak - idle:         {(peak_rss - idle['VmRSS']) / MiB:.1f} MiB sampled, "
                  f"{(end['VmHWM'] - idle['VmRSS']) / MiB:.1f} MiB VmHWM; "
                  f"target <= +{MEMORY_ALLOWANCE_MIB} MiB: {verdict}")
        except Exception as exc:  # noqa: BLE001 - report, stop the server, exit non-zero
            print(f"error: {exc}", file=sys.stderr)
            print(server.log(), file=sys.stderr)
            failed = True
        finally:
            server.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
