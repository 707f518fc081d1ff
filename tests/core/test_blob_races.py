"""The content store shared by several processes: two (or more) stores on one database, as
two replicas or workers have, committing and releasing the same bytes at the same time.

Each test runs on a SQLite file (every writer takes the write lock: ``BEGIN IMMEDIATE``) and
on a real PostgreSQL server (READ COMMITTED: the unique index and ``UPDATE ... RETURNING``
are what keep the counts right)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from emulator.core.blobs import Blob, BlobChunk, BlobStore, StagedBlob
from emulator.core.clock import Clock
from emulator.core.db import Database


@pytest.fixture(params=["sqlite", "pg"])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def stores(url: str) -> Iterator[list[BlobStore]]:
    """Four stores, each on its own Database (engine, pool): four processes in one."""
    first = Database(url)
    first.create_schema()
    dbs = [first, *(Database(url) for _ in range(3))]
    yield [BlobStore(db, Clock(), chunk_size=1024) for db in dbs]
    for db in dbs:
        db.dispose()


async def _one(data: bytes):
    yield data


def stage(store: BlobStore, data: bytes) -> StagedBlob:
    return asyncio.run(store.stage(_one(data)))


def blobs(store: BlobStore) -> list[tuple[int, str, int]]:
    with store.db.session() as s:
        return [(b.id, b.state, b.refcount) for b in s.execute(select(Blob).order_by(Blob.id)).scalars()]


def in_threads(*work) -> None:
    errors: list[BaseException] = []

    def run(fn) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_a_commit_racing_an_uncommitted_one_takes_its_blob(stores):
    """The second commit runs while the first one's transaction is still open: it must
    wait for it and end up holding a reference on the same blob, not a second copy."""
    a, b = stores[0], stores[1]
    data = b"identical bytes " * 300
    staged_a, staged_b = stage(a, data), stage(b, data)
    got: dict[str, int] = {}
    first_in = threading.Event()

    def first() -> None:
        with a.db.session() as s:
            got["a"] = a.commit(s, staged_a)
            first_in.set()
            time.sleep(0.5)  # the other commit arrives while this transaction is open

    def second() -> None:
        first_in.wait(10)
        with b.db.session() as s:
            got["b"] = b.commit(s, staged_b)

    in_threads(first, second)
    assert got["a"] == got["b"]
    assert blobs(a) == [(got["a"], "ready", 2)]
    with a.db.session() as s:  # the loser's staged copy went, chunks and all
        assert s.execute(select(BlobChunk.blob_id).distinct()).scalars().all() == [got["a"]]


def test_many_concurrent_commits_of_the_same_bytes_leave_one_blob(stores):
    data = b"x" * 5000
    staged = [(store, stage(store, data)) for store in stores for _ in range(2)]
    ids: list[int] = []
    start = threading.Barrier(len(staged))

    def commit(store: BlobStore, blob: StagedBlob) -> None:
        start.wait(10)
        with store.db.session() as s:
            ids.append(store.commit(s, blob))

    in_threads(*(lambda st=st, b=b: commit(st, b) for st, b in staged))
    assert len(set(ids)) == 1
    assert blobs(stores[0]) == [(ids[0], "ready", len(staged))]


def test_concurrent_releases_count_down_once_each(stores):
    a = stores[0]
    data = b"released " * 100
    blob_id = 0
    for store in stores:
        with store.db.session() as s:
            blob_id = store.commit(s, stage(store, data))
    assert blobs(a) == [(blob_id, "ready", 4)]
    start = threading.Barrier(4)

    def release(store: BlobStore) -> None:
        start.wait(10)
        with store.db.session() as s:
            store.release(s, blob_id)

    in_threads(*(lambda st=st: release(st) for st in stores))
    assert blobs(a) == []  # exactly at zero: reclaimed, never below
    with a.db.session() as s:
        assert s.execute(select(BlobChunk)).first() is None


def test_a_blob_released_meanwhile_is_not_retained_nor_reused(stores):
    a, b = stores[0], stores[1]
    data = b"gone soon"
    with a.db.session() as s:
        blob_id = a.commit(s, stage(a, data))
    with a.db.session() as s:
        a.release(s, blob_id)
    with b.db.session() as s:
        assert b.retain(s, blob_id) is False  # a looked-up id whose bytes were freed meanwhile
    with b.db.session() as s:  # the same bytes again: a new blob, not the freed one
        again = b.commit(s, stage(b, data))
    assert blobs(a) == [(again, "ready", 1)]


def test_the_database_refuses_a_second_ready_blob_of_the_same_bytes(stores):
    a = stores[0]
    row = {"state": "ready", "size": 3, "md5": "m" * 32, "sha1": "s" * 40, "refcount": 1, "created_at": 0.0}
    with a.db.session() as s:
        s.execute(insert(Blob).values(**row))
        s.execute(insert(Blob).values(**{**row, "state": "pending"}))  # pending copies are fine
    with pytest.raises(IntegrityError), a.db.session() as s:
        s.execute(insert(Blob).values(**row))


def test_the_sweep_at_start_leaves_pending_uploads_of_other_processes(stores):
    a, b = stores[0], stores[1]
    streaming = stage(b, b"still arriving")  # another process's upload, not yet committed
    assert a.sweep(grace=3600) == 0
    with b.db.session() as s:
        assert b.commit(s, streaming) == streaming.id
    assert a.sweep() == 0  # nothing pending is left to reclaim
