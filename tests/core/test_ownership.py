"""Every table says which tenant owns its rows (core/ownership.py), so scoped reset,
snapshots and the journal cover every API without knowing its tables."""

from __future__ import annotations

import pytest
from snapshot_kit import SECOND, T0, Kit, add_tenants, assert_refcounts_exact, ok, path_of, scope_of
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from emulator.apis import ALL_APIS
from emulator.core import ownership
from emulator.core.blobs import Blob
from emulator.core.db import Base


def test_every_table_declares_its_owner():
    assert ownership.undeclared_tables() == [], (
        "declare __tenant_api__ and __tenant_column__ (or an owned_by classmethod) on these models"
    )
    apis = {spec.name for spec in ALL_APIS}
    for table in Base.metadata.sorted_tables:
        if table.name in ownership.CORE_TABLES:
            continue
        assert ownership.owner_api(table) in apis, table.name


def test_a_table_without_a_declaration_is_reported():
    class Other(DeclarativeBase):
        pass

    class Declared(Other):
        __tablename__ = "declared"
        __tenant_api__ = "jpush"
        __tenant_column__ = "app_key"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        app_key: Mapped[str] = mapped_column(String(10))

    class Forgotten(Other):
        __tablename__ = "forgotten"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)

    class HalfDeclared(Other):
        __tablename__ = "half_declared"
        __tenant_api__ = "jpush"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)

    class Global(Other):
        __tablename__ = "global_rows"
        __tenant_api__ = None  # nobody's: scoped operations leave it alone
        id: Mapped[int] = mapped_column(Integer, primary_key=True)

    assert ownership.undeclared_tables(Other.registry) == ["forgotten", "half_declared"]


def test_blob_columns_are_every_reference_to_the_store():
    names = {f"{c.table.name}.{c.name}" for c in ownership.blob_columns()}
    assert names == {
        "jpush_files.blob_id", "pan123_file_parts.blob_id", "pan123_upload_parts.blob_id", "wechat_files.blob_id",
        "antelope_objects.blob_id", "nextjoy_objects.blob_id", "nextjoy_upload_parts.blob_id",
    }


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ([], "map API names"),
        ({"nosuchapi": ["x"]}, "unknown API"),
        ({"jpush": "testjpushappkey000000001"}, "list of identity strings"),
        ({"jpush": [""]}, "list of identity strings"),
        ({"jpush": ["missing"]}, "no jpush tenant 'missing'"),
        ({"jpush": []}, "names no tenant"),
    ],
)
def test_scopes_are_validated(emu, value, words):
    with pytest.raises(ownership.ScopeError, match=words):
        ownership.parse_scope(value, emu.tenants)


def test_scope_parameters_split_at_the_first_colon(emu):
    scope = ownership.parse_scope_params(["nextjoy:1001:1000", "jpush:testjpushappkey000000001"], emu.tenants)
    assert scope == {"nextjoy": ("1001:1000",), "jpush": ("testjpushappkey000000001",)}
    assert ownership.parse_scope_params([], emu.tenants) is None
    for bad in ("jpush", ":x", "jpush:"):
        with pytest.raises(ownership.ScopeError, match="<api>:<identity>"):
            ownership.parse_scope_params([bad], emu.tenants)


def test_each_tables_clause_selects_exactly_its_tenants_rows(client, emu):
    ok(client.post("/_emulator/clock", json={"freeze": True, "set": T0}))
    add_tenants(client)
    for kit, tag in ((Kit(client), "a"), (Kit(client, SECOND), "b")):
        kit.fill(tag)
        token = kit.pan123_token()  # and an unfinished upload, so that upload parts exist
        pre = kit.pan123_create(f"{tag}-open".encode(), f"{tag}-open.bin", token)["preuploadID"]
        assert client.put(path_of(kit.pan123_url(pre, 1, token)), content=f"{tag}-open".encode()).status_code == 200
        up_token = kit.nextjoy_call("get")["upload_token"]  # and a Qiniu block under way
        r = client.post("/_qiniu/up/mkblk/6", content=f"{tag}-blk!".encode()[:6],
                        headers={"Authorization": f"UpToken {up_token}"})
        assert r.status_code == 200, r.text
    scope = ownership.parse_scope(scope_of(SECOND), emu.tenants)
    records = ownership.scope_records(scope, emu.tenants)
    with emu.db.session() as s:
        for table in Base.metadata.sorted_tables:
            api = ownership.owner_api(table)
            if api is None:
                continue
            mine = s.execute(select(table).where(ownership.owned_clause(table, records[api]))).all()
            everyone = s.execute(select(table)).all()
            assert 0 < len(mine) < len(everyone), table.name


def test_recount_repairs_reference_counts_and_reclaims_the_unreferenced(client, emu):
    Kit(client).jpush(b"kept\n")
    pending = emu.blobs._new_pending()  # an upload streaming in: never touched
    with emu.db.session() as s:
        s.execute(Blob.__table__.update().where(Blob.state == "ready").values(refcount=9))
        s.execute(Blob.__table__.insert().values(state="ready", size=3, md5="x", sha1="y", refcount=1, created_at=0))
        assert ownership.recount_blobs(s) == 1  # the unreferenced one
    assert_refcounts_exact(emu)
    assert ok(client.get("/_emulator/store")) == {"blobs": 1, "bytes": len(b"kept\n")}
    with emu.db.session() as s:
        assert s.get(Blob, pending).state == "pending"
