"""The content store: streaming, digests in one pass, dedupe, reclaim, atomic commit."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc

import pytest
from sqlalchemy import func, select

from emulator.core.blobs import Blob, BlobChunk, BlobStore, BlobTooLarge
from emulator.core.clock import Clock
from emulator.core.db import Database


@pytest.fixture
def store(tmp_path, database):
    # a database file, or this worker's emptied PostgreSQL database (tests/conftest.py)
    db = Database(f"sqlite:///{tmp_path / 'store.db'}" if database == "sqlite://" else database)
    db.create_schema()
    yield BlobStore(db, Clock(), chunk_size=1024)
    db.dispose()


async def chunks_of(data: bytes, size: int = 333):
    for i in range(0, len(data), size):
        yield data[i : i + size]
        await asyncio.sleep(0)


def run(coro):
    return asyncio.run(coro)


def rows(store, model) -> int:
    with store.db.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def stage_commit(store, data: bytes) -> int:
    staged = run(store.stage(chunks_of(data)))
    with store.db.session() as s:
        return store.commit(s, staged)


def test_stage_computes_size_md5_sha1_and_chunks(store):
    data = bytes(range(256)) * 20  # 5120 bytes -> 5 chunks of 1024
    staged = run(store.stage(chunks_of(data)))
    assert staged.size == len(data)
    assert staged.md5 == hashlib.md5(data).hexdigest()
    assert staged.sha1 == hashlib.sha1(data).hexdigest()
    with store.db.session() as s:
        sizes = s.execute(select(func.length(BlobChunk.data)).order_by(BlobChunk.seq)).scalars().all()
    assert sizes == [1024] * 5


def test_read_streams_back_whole_and_ranges(store):
    data = hashlib.sha256(b"x").digest() * 200  # 6400 bytes
    blob_id = stage_commit(store, data)

    async def collect(start=0, end=None):
        return b"".join([p async for p in store.read(blob_id, start, end)])

    assert run(collect()) == data
    for start, end in [(0, 1), (1000, 1030), (1023, 1025), (2048, 6400), (6399, None), (5000, 10_000)]:
        assert run(collect(start, end)) == data[start:end]
    assert run(collect(7000)) == b""


def test_empty_body_is_a_blob_too(store):
    blob_id = stage_commit(store, b"")
    info = store.info(blob_id)
    assert (info.size, info.md5) == (0, hashlib.md5(b"").hexdigest())


def test_identical_bytes_are_stored_once_and_reclaimed_after_last_release(store):
    data = b"hello world" * 500
    a = stage_commit(store, data)
    b = stage_commit(store, data)
    assert a == b
    assert rows(store, Blob) == 1
    with store.db.session() as s:
        store.release(s, a)
    assert store.info(a) is not None
    with store.db.session() as s:
        store.release(s, a)
    assert store.info(a) is None
    assert rows(store, Blob) == 0 and rows(store, BlobChunk) == 0


def test_find_by_md5_and_size(store):
    data = b"abc" * 1000
    blob_id = stage_commit(store, data)
    assert store.find(md5=hashlib.md5(data).hexdigest(), size=len(data)).id == blob_id
    assert store.find(md5=hashlib.md5(data).hexdigest(), size=1) is None


def test_uncommitted_stage_is_invisible_and_discard_removes_it(store):
    staged = run(store.stage(chunks_of(b"z" * 3000)))
    assert store.info(staged.id) is None  # pending, not readable
    store.discard(staged)
    assert rows(store, Blob) == 0 and rows(store, BlobChunk) == 0


def test_commit_rolls_back_with_the_callers_transaction(store):
    staged = run(store.stage(chunks_of(b"q" * 2000)))
    with pytest.raises(RuntimeError), store.db.session() as s:
        store.commit(s, staged)
        raise RuntimeError("the object insert failed")
    assert store.info(staged.id) is None
    assert store.sweep() == 1
    assert rows(store, BlobChunk) == 0


def test_max_size_discards_everything(store):
    with pytest.raises(BlobTooLarge):
        run(store.stage(chunks_of(b"a" * 5000), max_size=4999))
    assert rows(store, Blob) == 0 and rows(store, BlobChunk) == 0


def test_observer_error_discards_everything(store):
    seen = []

    def observe(piece: bytes) -> None:
        seen.append(piece)
        if sum(map(len, seen)) > 2500:
            raise ValueError("bad content")

    with pytest.raises(ValueError):
        run(store.stage(chunks_of(b"b" * 5000), observe=observe))
    assert rows(store, Blob) == 0 and rows(store, BlobChunk) == 0


def test_sweep_reclaims_pending_and_unreferenced(store):
    run(store.stage(chunks_of(b"left over by a crash")))
    kept = stage_commit(store, b"kept")
    assert store.sweep() == 1
    assert store.info(kept) is not None


def test_memory_stays_flat_while_streaming(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'big.db'}")
    db.create_schema()
    store = BlobStore(db, Clock())  # real 1 MiB chunks
    block = b"\x5a" * 65536

    async def body():
        for _ in range(32 * 16):  # 32 MiB
            yield block

    tracemalloc.start()
    staged = run(store.stage(body()))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    db.dispose()
    assert staged.size == 32 * 1024 * 1024
    assert peak < 8 * 1024 * 1024, f"peak traced memory {peak} bytes"
