"""The streaming line checker decides exactly as a whole-file check would, however the
bytes are split across network chunks."""

from __future__ import annotations

import random

import pytest

from emulator.apis.jpush.service import LineChecker, content_lines
from emulator.core.errors import VendorError


def verdict_streamed(data: bytes, sizes: list[int]) -> str | int:
    checker = LineChecker()
    try:
        i = 0
        for size in sizes:
            checker.feed(data[i : i + size])
            i += size
        checker.feed(data[i:])
        return checker.finish()
    except VendorError as err:
        return err.detail or ""


def verdict_whole(data: bytes) -> str | int:
    try:
        lines = content_lines(data)
    except UnicodeDecodeError:
        return "not UTF-8"
    for line in lines:
        if len(line.encode()) > 40:
            return "longer"
    return len(lines)


CASES = [
    b"a" + b" " * 39 + b"b\n",  # 41 bytes with inner spaces
    b"a" + b" " * 38 + b"b\n",  # 40 bytes
    b"   " + b"x" * 40 + b"      \n" + b"y" * 41,
    b"\xef\xbb\xbf" + b"z" * 40 + b"\r\n" + "中".encode() * 13,
    b"ok\n\n\n  \t \n" + b" " * 500 + b"k" + b" " * 500 + b"\n",
    b"k" + b" " * 200 + b"\n",
    b"\xe4\xb8\xad\xe4",
    b"line\xff\n",
]


@pytest.mark.parametrize("data", CASES)
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 40, 41, 1000])
def test_streamed_verdict_matches_whole_file(data, chunk):
    sizes = [chunk] * (len(data) // chunk)
    streamed = verdict_streamed(data, sizes)
    whole = verdict_whole(data)
    if isinstance(whole, int):
        assert streamed == whole
    else:
        assert isinstance(streamed, str) and (whole in streamed or whole.split()[0] in streamed)


def test_random_splits_agree():
    rng = random.Random(1)
    alphabet = [b"a", b" ", b"\n", b"\t", "中".encode(), b"\r"]
    for _ in range(300):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        cuts = [rng.randint(1, 9) for _ in range(40)]
        whole = verdict_whole(data)
        streamed = verdict_streamed(data, cuts)
        if isinstance(whole, int):
            assert streamed == whole, data
        else:
            assert isinstance(streamed, str), data
