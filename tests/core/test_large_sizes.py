"""Sizes past 2^31 bytes (a 2 GiB file is ordinary; WeChat takes 5 GiB objects) are 64-bit
integers in every table on every backend: PostgreSQL's INTEGER is 32-bit, and a 123pan
create of a 3 GiB file was a 500 there."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import BigInteger, select

from emulator.apis.antelope.models import AntelopeObject
from emulator.apis.pan123.models import Pan123File, Pan123FilePart, Pan123Upload, Pan123UploadPart
from emulator.apis.wechat.models import WeChatFile
from emulator.core.blobs import Blob

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pan123"))

from antelope_kit import Antelope, make_token
from pan123_support import Pan

BIG = 3 * 2**30 + 1


def test_a_123pan_upload_of_3_gib_is_created_on_every_backend(client, emu):
    pan = Pan(client)
    for path in ("/upload/v1/oss/file/create", "/upload/v1/file/create"):
        parent = "" if "oss" in path else 0
        body = {"parentFileID": parent, "filename": f"big-{len(path)}.bin", "etag": "0" * 32, "size": BIG, "type": 1}
        created = pan.ok(path, body)
        assert created["preuploadID"] and not created["reuse"]
        last = -(-BIG // created["sliceSize"])
        prefix = path.rsplit("/", 1)[0]
        assert pan.ok(f"{prefix}/get_upload_url", {"preuploadID": created["preuploadID"], "sliceNo": last})
    with emu.db.session() as s:
        assert sorted(s.execute(select(Pan123Upload.size)).scalars()) == [BIG, BIG]


def test_a_blob_row_holds_a_size_past_4_gib(emu):
    with emu.db.session() as s:
        s.add(Blob(state="pending", size=2**33 + 5, refcount=0, created_at=0.0))
    with emu.db.session() as s:
        assert s.execute(select(Blob.size).where(Blob.size > 2**32)).scalar_one() == 2**33 + 5


def test_an_antelope_upload_on_a_clock_past_2038_keeps_its_time(client):
    """Its ``timestamp`` is whole seconds: past 2^31 once the emulator clock is set after 2038."""
    later = 2**31 + 1000
    client.post("/_emulator/clock", json={"freeze": True, "set": later})
    antelope = Antelope(client, make_token(expire=later + 3600))
    stored = antelope.ok(antelope.upload2(b"after 2038"))
    assert stored["timestamp"] == later
    assert [o["timestamp"] for o in antelope.objects()] == [later]


def test_every_byte_count_and_seconds_column_is_64_bit():
    columns = [Blob.size, Pan123File.size, Pan123File.traffic, Pan123FilePart.size, Pan123Upload.size,
               Pan123Upload.slice_size, Pan123UploadPart.size, AntelopeObject.file_size, WeChatFile.size,
               AntelopeObject.timestamp]
    assert [c.key for c in columns if not isinstance(c.type, BigInteger)] == []
