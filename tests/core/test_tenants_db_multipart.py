"""Fixture validation and persistence, the SQLite setup, the streaming multipart reader."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from emulator.apis import ALL_APIS
from emulator.core.db import PAGE_SIZE, Database
from emulator.core.multipart import MultipartError, MultipartReader
from emulator.core.tenants import FixtureError, Tenants
from emulator.settings import Settings


@pytest.fixture
def tenants(tmp_path, database):
    # a database file, or this worker's emptied PostgreSQL database (tests/conftest.py)
    db = Database(f"sqlite:///{tmp_path / 't.db'}" if database == "sqlite://" else database)
    db.create_schema()
    yield Tenants(db, ALL_APIS)
    db.dispose()


def test_default_fixtures_have_one_tenant_per_api(tenants):
    tenants.load_files(Settings().fixtures)
    doc = tenants.document()
    assert sorted(doc) == ["antelope", "jpush", "nextjoy", "pan123", "wechat"]
    assert all(len(v) == 1 for v in doc.values())
    assert doc["jpush"][0]["file_vip"] is False


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"jpush": [{"app_key": "a", "master_secret": "b", "colour": "red"}]}, "jpush[0].colour: unknown key"),
        ({"dropbox": []}, "dropbox: unknown key"),
        ({"jpush": [{"app_key": "a"}]}, "jpush[0].master_secret"),
        ({"jpush": [{"app_key": "a", "master_secret": "b", "dev_key": "c"}]}, "dev_key and dev_secret"),
        ({"pan123": [{"client_id": "a", "client_secret": "b", "uid": "x"}]}, "pan123[0].uid"),
        (["jpush"], "mapping"),
    ],
)
def test_bad_documents_are_refused_with_a_one_line_message(tenants, document, words):
    with pytest.raises(FixtureError) as exc:
        tenants.parse(document)
    assert words in str(exc.value)
    assert "\n" not in str(exc.value)


def test_bad_files_name_the_file(tenants, tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(FixtureError, match=r"cannot read fixtures file .*missing.yaml"):
        tenants.load_files([missing])
    broken = tmp_path / "broken.yaml"
    broken.write_text("jpush: [\n")
    with pytest.raises(FixtureError, match=r"broken.yaml, line 2, column 1: not valid YAML: "):
        tenants.load_files([broken])
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"jpush": [{"app_key": "a", "master_secret": "b", "extra": 1}]}')
    with pytest.raises(FixtureError, match=r"unknown.json: jpush\[0\].extra: unknown key"):
        tenants.load_files([unknown])
    assert tenants.all("jpush") == []  # nothing half-loaded


def test_same_identity_is_upserted_and_tenants_persist(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    db = Database(url)
    db.create_schema()
    t = Tenants(db, ALL_APIS)
    t.add(t.parse({"jpush": [{"app_key": "k", "master_secret": "one"}]}))
    t.add(t.parse({"jpush": [{"app_key": "k", "master_secret": "two"}, {"app_key": "k2", "master_secret": "x"}]}))
    assert [x.master_secret for x in t.all("jpush")] == ["two", "x"]
    db.dispose()
    again = Tenants(Database(url), ALL_APIS)
    again.reload()
    assert again.get("jpush", "k").master_secret == "two"
    assert again.get("jpush", "nope") is None


def test_nextjoy_tenants_are_identified_by_appid_and_child_id(tenants):
    tenants.load_files(Settings().fixtures)
    assert tenants.get("nextjoy", "1001:1000").bucket == "game-hddzz"


def test_file_database_is_wal_with_64k_pages_in_a_created_directory(tmp_path):
    path = tmp_path / "deep" / "er" / "emulator.db"
    db = Database(f"sqlite:///{path}")
    db.create_schema()
    db.dispose()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    conn.close()


def test_memory_database_is_shared_across_threads():
    db = Database("sqlite://")
    db.create_schema()
    from sqlalchemy import text

    def count() -> int:
        with db.session() as s:
            return s.execute(text("select count(*) from tenants")).scalar_one()

    import concurrent.futures

    with db.session() as s:
        s.execute(text("insert into tenants(api, key, position, data) values ('jpush', 'k', 0, '{}')"))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        assert pool.submit(count).result() == 1


async def body(data: bytes, size: int = 7):
    for i in range(0, len(data), size):
        yield data[i : i + size]


def read_parts(data: bytes, content_type="multipart/form-data; boundary=XyZ"):
    async def go():
        reader = MultipartReader(body(data), content_type)
        out = []
        async for part in reader.parts():
            if part.name == "skipme":
                continue
            out.append((part.name, part.filename, b"".join([c async for c in part.stream()])))
        return out

    return asyncio.run(go())


MULTI = (
    b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n/1/a.txt\r\n"
    b"--XyZ\r\nContent-Disposition: form-data; name=\"skipme\"\r\n\r\nignored\r\n"
    b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\xe4\xb8\xad.txt\"\r\n"
    b"Content-Type: text/plain\r\n\r\nline1\r\nline2\r\n"
    b"--XyZ--\r\n"
)


def test_parts_arrive_in_wire_order_with_their_bytes():
    assert read_parts(MULTI) == [("key", None, b"/1/a.txt"), ("file", "中.txt", b"line1\r\nline2")]


def test_truncated_body_is_an_error():
    with pytest.raises(MultipartError):
        read_parts(MULTI[:-20])


def test_wrong_content_type_is_an_error():
    with pytest.raises(MultipartError):
        read_parts(MULTI, "application/json")
    with pytest.raises(MultipartError):
        read_parts(MULTI, "multipart/form-data")


def test_a_boundary_longer_than_the_parser_takes_is_an_error():
    # RFC 2046 allows 70 characters; python-multipart refuses more than 256 with its own
    # exception, which escaped as a 500 from every multipart route
    long = b"x" * 257
    data = MULTI.replace(b"XyZ", long)
    with pytest.raises(MultipartError):
        read_parts(data, "multipart/form-data; boundary=" + long.decode())
    assert read_parts(MULTI.replace(b"XyZ", b"y" * 70), "multipart/form-data; boundary=" + "y" * 70)[0][0] == "key"
