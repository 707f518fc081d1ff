#!/usr/bin/env python
"""A large file (default 1 GiB) through the Qiniu host's resumable upload, with a NextJoy
token, against a live server; watches the server's memory.

Starts ``python -m emulator serve`` with a fresh temp ``--data-dir`` (default fixtures: the
NextJoy app 1001:1000), signs ``upload_token/get``, then uploads as the Qiniu SDKs do:
``--version v1`` (default) ``mkblk`` of every 4 MiB block then ``mkfile``; ``--version v2``
initiate, a ``PUT`` per part (``--part``, default 4 MiB, hex ``Content-MD5``), complete.
Checks the answered etag against one computed here (untimed, before the upload). Prints
MB/s for the pieces and for the final join (the server streams the pieces into the object
and computes its etag), and the server's memory: idle VmRSS after a warm-up, peak VmRSS
sampled every 50 ms, VmHWM (reset after the warm-up), against the target
"peak RSS <= idle + 16 MiB".

    python bench/qiniu_resumable.py --size 1G
    python bench/qiniu_resumable.py --size 1G --version v2 --part 16M

Exit code non-zero only if a step fails or the server will not start.
"""

from __future__ import annotations

import argparse
import base64
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

from pan123_upload import slice_body  # noqa: E402
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

APPID, CHILD_ID, APP_SECRET = 1001, 1000, "test-nextjoy-app-secret"
QBLOCK = 4 * MiB


def nextjoy_token(http: httpx.Client, base: str) -> str:
    now = int(http.get(f"{base}/_emulator/clock").json()["now"])
    params = {"appid": str(APPID), "child_id": str(CHILD_ID), "timestamp": str(now)}
    text = "".join(f"{k}|{params[k]}#" for k in sorted(params)) + APP_SECRET
    params["sign"] = hashlib.md5(text.encode()).hexdigest().upper()
    body = http.post(f"{base}/upload_token/get", data=params).json()
    if body.get("status") != 200:
        raise RuntimeError(f"upload_token/get: {body}")
    return body["data"]["upload_token"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def expected_etag(size: int, block: bytes, part: int, version: str) -> tuple[str, list[str]]:
    """The Qiniu etag of the whole (v1 rule, or the v2 rule for parts that are not 4 MiB)
    and each piece's hex MD5 (v2's Content-MD5)."""
    pieces = QBLOCK if version == "v1" else part
    md5s, part_digests, block_sha1s = [], [], []
    for off in range(0, size, pieces):
        length = min(pieces, size - off)
        m = hashlib.md5()
        sha1s = []
        for b_off in range(off, off + length, QBLOCK):
            h = hashlib.sha1()
            for piece in slice_body(size, b_off, min(QBLOCK, off + length - b_off), block):
                h.update(piece)
                m.update(piece)
            sha1s.append(h.digest())
        md5s.append(m.hexdigest())
        block_sha1s += sha1s
        part_digests.append(sha1s[0] if len(sha1s) == 1 else hashlib.sha1(b"".join(sha1s)).digest())
    if version == "v2" and part != QBLOCK and size > part:  # some part before the last is not 4 MiB
        return b64(b"\x9e" + hashlib.sha1(b"".join(part_digests)).digest()), md5s
    if len(block_sha1s) == 1:
        return b64(b"\x16" + block_sha1s[0]), md5s
    return b64(b"\x96" + hashlib.sha1(b"".join(block_sha1s)).digest()), md5s


def upload(http: httpx.Client, up: str, token: str, size: int, block: bytes, key: str, version: str,
           part: int, md5s: list[str]) -> tuple[dict[str, float], dict]:
    headers = {"Authorization": f"UpToken {token}"}
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    if version == "v1":
        ctxs = []
        for off in range(0, size, QBLOCK):
            length = min(QBLOCK, size - off)
            r = http.post(f"{up}/mkblk/{length}", content=slice_body(size, off, length, block),
                          headers={**headers, "Content-Length": str(length)})
            if r.status_code != 200:
                raise RuntimeError(f"mkblk at {off}: HTTP {r.status_code} {r.text[:300]}")
            ctxs.append(r.json()["ctx"])
        t1 = time.perf_counter()
        r = http.post(f"{up}/mkfile/{size}/key/{b64(key.encode())}", content=",".join(ctxs), headers=headers)
    else:
        obj = f"{up}/buckets/game-hddzz/objects/{b64(key.encode())}/uploads"
        upload_id = http.post(obj, headers=headers).json()["uploadId"]
        parts = []
        for n, off in enumerate(range(0, size, part), 1):
            length = min(part, size - off)
            r = http.put(f"{obj}/{upload_id}/{n}", content=slice_body(size, off, length, block),
                         headers={**headers, "Content-Length": str(length), "Content-MD5": md5s[n - 1],
                                  "Content-Type": "application/octet-stream"})
            if r.status_code != 200:
                raise RuntimeError(f"part {n}: HTTP {r.status_code} {r.text[:300]}")
            parts.append({"etag": r.json()["etag"], "partNumber": n})
        t1 = time.perf_counter()
        r = http.post(f"{obj}/{upload_id}", json={"parts": parts, "fname": key}, headers=headers)
    t2 = time.perf_counter()
    if r.status_code != 200:
        raise RuntimeError(f"{'mkfile' if version == 'v1' else 'complete'}: HTTP {r.status_code} {r.text[:300]}")
    times.update(pieces=t1 - t0, join=t2 - t1, total=t2 - t0, count=-(-size // (QBLOCK if version == "v1" else part)))
    return times, r.json()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="file size (1G, 100M, ...); default 1G")
    parser.add_argument("--version", choices=("v1", "v2"), default="v1", help="resumable upload version (default v1)")
    parser.add_argument("--part", type=parse_size, default=QBLOCK, help="v2 part size (default 4M)")
    parser.add_argument("--interval", type=float, default=0.05, help="RSS sampling interval in seconds")
    args = parser.parse_args()
    size = args.size
    block = random.Random(13).randbytes(BLOCK)
    etag, md5s = expected_etag(size, block, args.part, args.version)
    print(f"size:                {size} bytes ({mib(size)}); {args.version}; expected etag {etag} (untimed)")

    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-qiniu-") as tmp:
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
                up = http.get(f"{base}/_emulator/health").json()["endpoints"]["qiniu_upload"]
                token = nextjoy_token(http, base)
                # warm-up: every code path once, small
                warm = 9 * MiB + 7
                w_etag, w_md5s = expected_etag(warm, block[5:] + block[:5], args.part, args.version)
                _, got = upload(http, up, token, warm, block[5:] + block[:5], "warm.bin", args.version, args.part,
                                w_md5s)
                if got.get("hash") != w_etag:
                    raise RuntimeError(f"warm-up etag {got} (expected {w_etag})")
                time.sleep(0.5)
                idle = proc_status(pid)
                hwm_reset = reset_hwm(pid)
                sampler = Sampler(pid, args.interval)
                sampler.start()
                cpu0 = cpu_seconds(pid)
                try:
                    times, got = upload(http, up, token, size, block, "big.bin", args.version, args.part, md5s)
                finally:
                    sampler.stop()
                cpu1 = cpu_seconds(pid)
                end = proc_status(pid)
                if got.get("hash") != etag or got.get("key") != "big.bin":
                    raise RuntimeError(f"answer {got} (expected hash {etag})")
                stored = [o for o in http.get(f"{base}/_emulator/nextjoy/objects").json() if o["key"] == "big.bin"]
                if not stored or stored[0]["fsize"] != size:
                    raise RuntimeError(f"stored object: {stored}")
            piece_name = "mkblk" if args.version == "v1" else "parts"
            print(f"{piece_name}:               {int(times['count'])} x "
                  f"{mib(QBLOCK if args.version == 'v1' else args.part)}")
            print(f"pieces:              {times['pieces']:8.3f} s  {rate(size, times['pieces'])}")
            print(f"join ({'mkfile' if args.version == 'v1' else 'complete'}):".ljust(21)
                  + f"{times['join']:8.3f} s  (the server streams the pieces into the object, etag on the way)")
            print(f"whole upload:        {times['total']:8.3f} s  {rate(size, times['total'])}")
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
