"""aio123pan (PyPI, httpx, async), unchanged, against a live emulator through its
``base_url``: every cloud-disk flow it offers. Several of its calls use paths the platform
does not have (``/upload/v2/file/upload_domain``, ``/api/v1/file/info``,
``/api/v1/file/trash/restore``, ``/trash/delete``, ``/trash/empty``): those get HTTP 404
with the 123pan envelope and it raises; each test says which and checks the emulator's side."""

from __future__ import annotations

import asyncio
import os

import pytest
from aio123pan import Pan123Client
from aio123pan.exceptions import Pan123Error
from sdk_kit import CLIENT_ID, CLIENT_SECRET, UID, md5, pan_server  # noqa: F401


def run(pan_server, flow):
    async def main():
        async with Pan123Client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=pan_server.url,
                                enable_token_storage=False) as client:
            return await flow(client)

    return asyncio.run(main())


def test_token_user_info_and_folders(pan_server):
    async def flow(client):
        info = await client.user.get_user_info()  # expiredAt parsed as an aware datetime
        folder = await client.folder.create_folder(0, "文档")
        sub = await client.folder.create_folder(folder, "子目录")
        page = await client.file.list_files(parent_file_id=folder)
        return info, folder, sub, page

    info, _folder, sub, page = run(pan_server, flow)
    assert info.user_id == UID
    assert pan_server.disk()["/文档/子目录"]["id"] == sub
    assert [f.file_id for f in page.file_list] == [sub]


def test_upload_v2_multi_slice_reuse_and_download(pan_server, tmp_path):
    data = os.urandom(3 * 64 * 1024 + 9)
    (tmp_path / "big.bin").write_bytes(data)

    async def flow(client):
        fid = await client.upload.upload_file(tmp_path / "big.bin")
        again = await client.upload.upload_file(tmp_path / "big.bin", filename="again.bin")  # 秒传
        body = await client.file.download_file(fid)
        return fid, again, body

    fid, again, body = run(pan_server, flow)
    assert body == data and pan_server.disk()["/big.bin"]["etag"] == md5(data)
    assert again not in (0, fid) and pan_server.content(again) == data
    assert len(pan_server.journal("/upload/v2/file/slice")) == 4


def test_it_tolerates_20103(pan_server, tmp_path):
    pan_server.config(answer_20103=True)
    data = os.urandom(2 * 64 * 1024)
    (tmp_path / "v.bin").write_bytes(data)
    fid = run(pan_server, lambda client: client.upload.upload_file(tmp_path / "v.bin"))
    assert pan_server.content(fid) == data
    assert 20103 in [j.get("code") for j in pan_server.journal("/upload/v2/file/upload_complete")]


def test_move_rename_trash(pan_server, tmp_path):
    (tmp_path / "m.txt").write_bytes(b"move me")

    async def flow(client):
        a = await client.folder.create_folder(0, "a")
        b = await client.folder.create_folder(0, "b")
        fid = await client.upload.upload_file(tmp_path / "m.txt", parent_file_id=a)
        await client.file.rename_file(fid, "n.txt")
        await client.file.move_file(fid, b)
        moved = pan_server.disk()["/b/n.txt"]
        await client.file.delete_file(fid)  # its delete_file is the recycle bin
        root_file = await client.upload.upload_file(tmp_path / "m.txt", filename="root.txt")
        await client.file.delete_file([root_file])
        trash = await client.trash.list_trash()  # it lists the root only
        return fid, moved, root_file, trash

    fid, moved, root_file, trash = run(pan_server, flow)
    assert moved["id"] == fid and pan_server.disk()["/b/n.txt"]["trashed"] is True
    assert [f.file_id for f in trash.file_list] == [root_file]


@pytest.mark.parametrize(("call", "path"), [
    (lambda c, fid: c.upload.get_upload_domain(), "/upload/v2/file/upload_domain"),
    (lambda c, fid: c.file.get_file_info(fid), "/api/v1/file/info"),
    (lambda c, fid: c.trash.restore_file(fid), "/api/v1/file/trash/restore"),
    (lambda c, fid: c.trash.delete_permanently(fid), "/api/v1/file/trash/delete"),
    (lambda c, fid: c.trash.empty_trash(), "/api/v1/file/trash/empty"),
])
def test_calls_to_paths_the_platform_does_not_have(pan_server, tmp_path, call, path):
    """The SDK's own bug: these paths are not the platform's (the documented ones are
    /upload/v2/file/domain, /api/v1/file/detail, /api/v1/file/recover, /api/v1/file/delete).
    The emulator answers HTTP 404 with the 123pan envelope; the SDK raises; nothing changes."""
    (tmp_path / "x.txt").write_bytes(b"x")

    async def flow(client):
        fid = await client.upload.upload_file(tmp_path / "x.txt")
        await client.file.delete_file(fid)
        before = pan_server.disk()
        with pytest.raises(Pan123Error):
            await call(client, fid)
        return before

    before = run(pan_server, flow)
    assert pan_server.disk() == before
    entry = pan_server.journal(path)[-1]
    assert entry["status"] == 404 and entry["code"] == 404
