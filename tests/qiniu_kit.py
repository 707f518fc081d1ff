"""Qiniu checksums computed here on their own, from qiniu-upload.md §8 (not the emulator's
code), for the tests of the Qiniu upload host and the SDKs run against it."""

from __future__ import annotations

import base64
import hashlib

BLOCK = 4 << 20


def v1_digest(part: bytes) -> bytes:
    """The 20 bytes of a body's v1 etag: sha1 of the body up to 4 MiB, else sha1 of its
    4 MiB blocks' sha1s."""
    blocks = [hashlib.sha1(part[i:i + BLOCK]).digest() for i in range(0, max(len(part), 1), BLOCK)]
    return blocks[0] if len(blocks) == 1 else hashlib.sha1(b"".join(blocks)).digest()


def v2_etag(data: bytes, part_size: int) -> str:
    """The etag of a v2 upload cut into ``part_size`` parts that are not 4 MiB:
    urlsafe_b64(0x9e ‖ sha1(each part's v1 digest, in order))."""
    digests = b"".join(v1_digest(data[i:i + part_size]) for i in range(0, len(data), part_size))
    return base64.urlsafe_b64encode(b"\x9e" + hashlib.sha1(digests).digest()).decode()
