#!/usr/bin/env python
"""What the journal costs a streaming body: ``BodyTap.feed`` (the only work the journal
middleware does per body chunk) over a large upload in 64 KiB and 1 MiB chunks, for a binary
body (only counted) and a textual one (counted, first 4 KiB kept), against MD5 over the same
bytes (what hashing the body on the request path would have cost). Reading an entry (decode +
mask of at most 4 KiB) happens only when someone asks for it and is timed separately.

    python bench/journal_tap.py                 # 1 GiB
    python bench/journal_tap.py --size 256M
"""

from __future__ import annotations

import argparse
import hashlib
import time

from emulator.core.journal import BodyTap


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1G", help="bytes, or K/M/G (binary)")
    args = ap.parse_args()
    size = parse_size(args.size)
    for chunk_size in (64 << 10, 1 << 20):
        chunk = bytes(range(256)) * (chunk_size // 256)
        n = size // chunk_size

        def feed(content_type: str, n: int = n, chunk: bytes = chunk) -> None:
            tap = BodyTap(content_type)
            for _ in range(n):
                tap.feed(chunk)

        def md5(n: int = n, chunk: bytes = chunk) -> None:
            h = hashlib.md5()
            for _ in range(n):
                h.update(chunk)

        for label, work in (("binary tap", lambda: feed("application/octet-stream")),
                            ("text tap", lambda: feed("application/json")), ("md5 (for scale)", md5)):
            secs = timed(work)
            print(f"{chunk_size >> 10:>5} KiB chunks  {label:<16} {secs * 1e9 / n:>10.0f} ns/chunk"
                  f"  {size / secs / 1e6:>12.0f} MB/s")
    items = b'{"name": "a.bin", "size": 1},' * 200
    body = b'{"data": {"accessToken": "' + b"t" * 40 + b'", "items": [' + items + b"]}}"
    taps = [BodyTap("application/json") for _ in range(1000)]
    for tap in taps:
        tap.feed(body)
    secs = timed(lambda: [tap.render() for tap in taps])
    print(f"reading an entry's 4 KiB JSON body (decode + mask), once, when asked: {secs * 1e6 / len(taps):.0f} us")


if __name__ == "__main__":
    main()
