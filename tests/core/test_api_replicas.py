"""The five APIs' state shared by two emulators on one database, as two replicas (or
``--workers``) have: in one process, two ``Emulator`` objects (each its own engine and
pool) on one SQLite file and on one PostgreSQL database, called in turn and at once.

Each test would fail if its race came back: tunables or counters held in a process, a
check-then-insert without a lock or constraint, a delete releasing bytes twice."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from antelope_kit import DOC_TIME, Antelope
from fastapi.testclient import TestClient
from helpers import pan123_slice_url
from sqlalchemy import func, select

from emulator.apis.pan123.models import Pan123File
from emulator.app import create_app
from emulator.core.blobs import Blob
from emulator.core.db import Base
from emulator.core.runtime import Emulator
from emulator.core.shared import SharedValue
from emulator.settings import Settings
from emulator.testing.handle import EmulatorHandle


@pytest.fixture(params=["sqlite", "pg"])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return str(request.getfixturevalue("pg_url"))


class Replica:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.emu: Emulator = client.app.state.emulator  # type: ignore[attr-defined]
        self.handle = EmulatorHandle(client, "http://testserver")

    def service(self, api: str) -> Any:
        return self.emu.service(api)

    def tenant(self, api: str) -> Any:
        return self.emu.tenants.all(api)[0]


@pytest.fixture
def pair(url: str, tmp_path) -> Iterator[tuple[Replica, Replica]]:
    """Two emulators on one database, both started (the second finds the schema made)."""
    yield from _pair(url, tmp_path, None)


@pytest.fixture
def seeded_pair(url: str, tmp_path) -> Iterator[tuple[Replica, Replica]]:
    """The same, both started with ``--seed 7``."""
    yield from _pair(url, tmp_path, 7)


def _pair(url: str, tmp_path, seed: int | None) -> Iterator[tuple[Replica, Replica]]:
    clients = []
    for n in (1, 2):
        app = create_app(Settings(data_dir=tmp_path / f"data{n}", database_url=url, rate_limits=False, seed=seed))
        clients.append(TestClient(app).__enter__())
    a, b = Replica(clients[0]), Replica(clients[1])
    for r in (a, b):  # each emulator's own clock, in case it is not shared: the same instant
        r.client.post("/_emulator/clock", json={"freeze": True, "set": DOC_TIME})
    yield a, b
    for c in clients:
        c.__exit__(None, None, None)
        c.app.state.emulator.close()  # type: ignore[attr-defined]


def at_once(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable on a thread of its own, started together; their results in order."""
    results: list[Any] = [None] * len(work)
    errors: list[BaseException] = []
    start = threading.Barrier(len(work))

    def run(i: int, fn: Callable[[], Any]) -> None:
        try:
            start.wait(10)
            results[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(work)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


def outcomes(*work: Callable[[], Any]) -> list[Any]:
    """Like :func:`at_once`, but each result is the value or the exception raised."""

    def catching(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - the outcome under test
                return exc
        return run

    return at_once(*(catching(fn) for fn in work))


async def _chunks(data: bytes):
    yield data


def references_match(emu: Emulator) -> None:
    """Every ready blob's count equals the rows that point at it; nothing points at a
    missing blob (no reference was lost, counted twice or released twice)."""
    refs: dict[int, int] = {}
    with emu.db.session() as s:
        for table in Base.metadata.sorted_tables:
            if table.name not in ("blobs", "blob_chunks") and "blob_id" in table.c:
                for blob_id in s.execute(select(table.c.blob_id)).scalars():
                    refs[blob_id] = refs.get(blob_id, 0) + 1
        counts = {r.id: r.refcount for r in s.execute(select(Blob.id, Blob.refcount).where(Blob.state == "ready"))}
    assert counts == refs


# -- 123pan ---------------------------------------------------------------------------------
def test_pan123_tunables_changed_on_one_replica_apply_on_the_other(pair):
    a, b = pair
    a.handle.pan123_config(slice_size=1000, async_seconds=0)
    assert b.handle.pan123_config()["slice_size"] == 1000
    data = b"z" * 2500
    created = b.client.post("/upload/v1/oss/file/create", headers=b.handle.pan123_headers(), json={
        "parentFileID": "", "filename": "x.bin", "etag": hashlib.md5(data).hexdigest(), "size": len(data),
        "type": 1}).json()
    assert created["data"]["sliceSize"] == 1000
    b.handle.pan123_config(reset=True)
    assert a.handle.pan123_config()["slice_size"] == 104857600


def test_pan123_seqs_are_unique_and_a_name_is_taken_once_across_replicas(pair):
    a, b = pair
    tenant = a.tenant("pan123")
    made = outcomes(*(lambda r=r, n=n: r.service("pan123").disk.mkdir(tenant, f"d{n}", "0")
                      for n in range(6) for r in (a, b)))
    assert sum(not isinstance(o, Exception) for o in made) == 6, made  # each name once, on either
    with a.emu.db.session() as s:
        seqs = s.execute(select(Pan123File.seq).where(Pan123File.space == "disk")).scalars().all()
    assert len(seqs) == 6 and len(set(seqs)) == 6  # same names on both replicas: six folders
    # in two folders (two folder locks): the creation order still never repeats
    folders = [r.service("pan123").disk.mkdir(tenant, f"p{n}", "0")["dirID"] for n, r in enumerate((a, b))]
    at_once(*(lambda r=r, f=f, n=n: r.service("pan123").disk.mkdir(tenant, f"c{n}", str(f))
              for n in range(6) for r, f in zip((a, b), folders, strict=True)))
    same = outcomes(*(lambda r=r: r.service("pan123").disk.mkdir(tenant, "only-once", "0") for r in (a, b, a, b)))
    assert sum(not isinstance(o, Exception) for o in same) == 1, same
    with a.emu.db.session() as s:
        assert s.execute(select(func.count()).where(Pan123File.name == "only-once")).scalar_one() == 1
        seqs = s.execute(select(Pan123File.seq)).scalars().all()
    assert len(seqs) == len(set(seqs))


def test_pan123_upload_completed_on_one_replica_settles_on_the_other_with_its_digest(pair, monkeypatch):
    a, b = pair
    a.handle.pan123_config(slice_size=1000, async_seconds=0)
    data = bytes(range(256)) * 10  # 2560 bytes: three slices
    h = a.handle.pan123_headers()
    created = a.client.post("/upload/v1/oss/file/create", headers=h, json={
        "parentFileID": "", "filename": "three.bin", "etag": hashlib.md5(data).hexdigest(), "size": len(data),
        "type": 1}).json()["data"]
    pre = created["preuploadID"]
    for n, replica in ((1, a), (2, b), (3, a)):  # the slices' PUTs reach either replica
        url = a.client.post("/upload/v1/oss/file/get_upload_url", headers=h,
                            json={"preuploadID": pre, "sliceNo": n}).json()["data"]["presignedURL"]
        assert replica.client.put(url, content=data[(n - 1) * 1000:n * 1000]).status_code == 200
    done = a.client.post("/upload/v1/oss/file/upload_complete", headers=h, json={"preuploadID": pre}).json()
    assert done["data"]["async"] is True
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # replica a computes the digest in the background
        with a.emu.db.session() as s:
            if s.execute(select(SharedValue).where(SharedValue.name.startswith("pan123.check."))).first():
                break
        time.sleep(0.05)
    else:
        pytest.fail("the digest computed on replica a never reached the database")

    async def never(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("replica b read every slice again instead of using the recorded digest")

    monkeypatch.setattr(b.service("pan123").checks, "_md5_of", never)
    polls = at_once(*(lambda: b.client.post("/upload/v1/oss/file/upload_async_result", headers=h,
                                            json={"preuploadID": pre}).json() for _ in range(3)))
    assert {p["data"]["completed"] for p in polls} == {True}
    assert len({p["data"]["fileID"] for p in polls}) == 1
    with a.emu.db.session() as s:  # one upload, one file, whatever number of pollers
        assert s.execute(select(func.count()).where(Pan123File.name == "three.bin")).scalar_one() == 1
    references_match(a.emu)


def test_pan123_same_slice_put_at_once_on_both_replicas(pair):
    a, b = pair
    data = b"one slice " * 100
    h, pre, url = pan123_slice_url(a.handle, data)
    codes = at_once(*(lambda r=r: r.client.put(url, content=data).status_code for r in (a, b, a, b)))
    assert codes == [200] * 4
    done = b.client.post("/upload/v1/oss/file/upload_complete", headers=h, json={"preuploadID": pre}).json()
    assert done["data"]["completed"] is True
    references_match(a.emu)
    with a.emu.db.session() as s:
        assert s.execute(select(Blob.refcount).where(Blob.state == "ready")).scalars().all() == [1]


# -- Antelope ----------------------------------------------------------------------------------
def test_antelope_obj_ids_are_unique_across_replicas_even_with_one_seed(seeded_pair):
    a, b = seeded_pair  # both started with --seed 7: the same proposals, one shared counter
    ants = (Antelope(a.client), Antelope(b.client))
    answers = at_once(*(lambda ant=ant, n=n: ant.ok(ant.upload2(f"object {n}".encode(), key=f"/k{n}"))
                        for n in range(8) for ant in ants))
    ids = [r["obj_id"] for r in answers]
    assert len(set(ids)) == len(ids)
    assert len({i[8:16] for i in ids}) == 1  # one instance id for the whole emulator
    assert len(Antelope(a.client).objects()) == 8  # keys k0..k7: each stored once, replaced once


def test_antelope_same_bytes_and_same_key_at_once(pair):
    a, b = pair
    ants = (Antelope(a.client), Antelope(b.client))
    at_once(*(lambda ant=ant: ant.ok(ant.upload2(b"shared bytes", key="/same")) for ant in ants * 3))
    objects = ants[1].objects()
    assert [o["key"] for o in objects] == ["/same"]
    references_match(a.emu)
    at_once(*(lambda ant=ant, n=n: ant.ok(ant.upload2(b"identical", key=f"/i{n}")) for n, ant in enumerate(ants)))
    with a.emu.db.session() as s:  # one blob for the identical bytes, counting both objects
        assert s.execute(select(Blob.refcount).where(Blob.size == len(b"identical"))).scalars().all() == [2]
    references_match(a.emu)


def test_antelope_event_offsets_are_unique_across_replicas(pair):
    a, b = pair
    message = {"channel_id": 5, "subject": "s", "body": {"n": 1},
               "attachments": [{"form_field": "f", "expiretype": 0}]}
    ants = (Antelope(a.client), Antelope(b.client))
    codes = at_once(*(lambda ant=ant, n=n: ant.upload3(message, [("f", f"f{n}.txt", b"x%d" % n)]).status_code
                      for n in range(5) for ant in ants))
    assert codes == [200] * 10
    offsets = [e["offset"] for e in ants[0].all_events() if e["channel_id"] == 5]
    assert sorted(offsets) == list(range(10))


def test_antelope_old_snapshot_state_and_the_hooks_read_the_database(pair):
    a, b = pair
    a.service("antelope").load_state({"instance": "abcdef01", "counter": 41})  # a snapshot of before
    obj = Antelope(b.client).ok(Antelope(b.client).upload2(b"after restore", key="/r"))
    assert obj["obj_id"][8:16] == "abcdef01" and obj["obj_id"][-6:] == f"{42:06x}"
    assert a.service("antelope").obj_id_state() == {"instance": "abcdef01", "counter": 42}


# -- JPush, WeChat, NextJoy ---------------------------------------------------------------------
def test_jpush_twenty_file_cap_holds_across_replicas(pair):
    a, b = pair
    tenant = a.tenant("jpush")
    staged = [(r, asyncio.run(r.service("jpush").receive_file(f"f{n}.txt", _chunks(b"alias-%d\n" % n))))
              for n in range(13) for r in (a, b)]
    got = outcomes(*(lambda r=r, f=f: r.service("jpush").create(tenant, "alias", f, None) for r, f in staged))
    assert sum(not isinstance(o, Exception) for o in got) == 20
    assert len(a.service("jpush").all_files(tenant.app_key)) == 20
    for (r, f), o in zip(staged, got, strict=True):
        if isinstance(o, Exception):
            r.service("jpush").discard(f)
    references_match(a.emu)


def test_wechat_same_path_written_at_once_keeps_one_object(pair):
    a, b = pair
    tenant = a.tenant("wechat")
    path = f"{tenant.envs[0]}/dir/same.txt"
    at_once(*(lambda r=r, n=n: asyncio.run(r.service("wechat").preload(tenant.appid, path, _chunks(b"v%d" % n)))
              for n, r in enumerate((a, b, a, b))))
    assert [f["key"] for f in b.service("wechat").files(tenant.appid)] == ["dir/same.txt"]
    references_match(a.emu)


def test_nextjoy_same_key_put_and_deleted_at_once(pair):
    a, b = pair
    tenant = a.tenant("nextjoy")

    def put(r: Replica, data: bytes) -> Any:
        svc = r.service("nextjoy")
        received = asyncio.run(svc.receive(_chunks(data), "k.bin", None))
        return svc.put(tenant, "k.bin", received, may_overwrite=True)

    at_once(*(lambda r=r, n=n: put(r, b"content %d" % n) for n, r in enumerate((a, b, a, b))))
    assert [o["key"] for o in a.service("nextjoy").objects()] == ["k.bin"]
    references_match(a.emu)
    deleted = outcomes(*(lambda r=r: r.service("nextjoy").delete_files(tenant, "k.bin") for r in (a, b)))
    assert sum(not isinstance(o, Exception) for o in deleted) >= 1
    assert a.service("nextjoy").objects() == []
    references_match(a.emu)
    with a.emu.db.session() as s:
        assert s.execute(select(Blob).where(Blob.state == "ready")).first() is None
