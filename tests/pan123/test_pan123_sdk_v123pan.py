"""v123pan (PyPI, httpx, async), unchanged, against a live emulator: every cloud-disk flow it
offers. Its URLs are module constants of the real host, so its own httpx client gets a
transport that sends that host here. It returns whole envelopes (``result["data"]``)."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
import v123pan
from sdk_kit import (  # noqa: F401
    CLIENT_ID,
    CLIENT_SECRET,
    UID,
    ToEmulatorAsync,
    md5,
    pan_server,
    sha1,
)
from v123pan.api.combine.upload import FileUploader
from v123pan.api.download import Download
from v123pan.exceptions import APIError


def connect(pan_server, **auth) -> v123pan.V123Pan:
    pan = v123pan.V123Pan(**auth)
    old = pan.client
    pan.client = httpx.AsyncClient(headers=old.headers, timeout=old.timeout, follow_redirects=True,
                                   transport=ToEmulatorAsync(pan_server.url))
    return pan


@pytest.fixture
def token(pan_server) -> str:
    """With a client id and secret it asks for a token before every call (section 8 of the
    reference): against the 1-a-second limit that is a 429 on most calls, so the flows use
    an access token, as its constructor allows; test_token_by_client_secret covers the rest."""
    return pan_server.admin("POST", "/pan123/tokens", json={"client_id": CLIENT_ID})["accessToken"]


def run(coro):
    return asyncio.run(coro)


def test_token_by_client_secret(pan_server):
    async def flow():
        pan = connect(pan_server, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        try:
            return await pan.info()
        finally:
            await pan.close()

    assert run(flow())["data"]["uid"] == UID
    assert pan_server.journal("/api/v1/access_token")[-1]["code"] == 0


def test_upload_v1_small_multi_slice_and_reuse(pan_server, token):
    small, big = b"v123pan small", os.urandom(3 * 64 * 1024 + 3)

    async def flow():
        pan = connect(pan_server, access_token=token)
        try:
            async with FileUploader(pan) as up:
                one = await up.upload(small, filename="small.txt")
                many = await up.upload(big, filename="big.bin")  # polls upload_async_result
                again = await up.upload(big, filename="again.bin")  # 秒传 on create
            hit = await pan.reuse(0, "by-sha1.bin", sha1(big), len(big))
            return one, many, again, hit
        finally:
            await pan.close()

    one, many, again, hit = run(flow())
    assert pan_server.content(one["data"]["fileID"]) == small
    assert many["data"]["completed"] is True and pan_server.content(many["data"]["fileID"]) == big
    assert again["data"]["reuse"] is True and pan_server.content(again["data"]["fileID"]) == big
    assert hit["data"]["reuse"] is True and pan_server.disk()["/by-sha1.bin"]["etag"] == md5(big)
    assert pan_server.journal("/upload/v1/file/upload_async_result")


def test_folders_lists_detail_infos_download(pan_server, token):
    data = os.urandom(1000)

    async def flow():
        pan = connect(pan_server, access_token=token)
        try:
            folder = (await pan.directory("f", 0))["data"]["dirID"]
            async with FileUploader(pan) as up:
                fid = (await up.upload(data, filename="a.bin", parent_id=folder))["data"]["fileID"]
            listed = (await pan.list(folder, 100))["data"]
            paged = (await pan.page(folder, 1, 100, "file_name", "asc", trashed=False))["data"]
            detail = (await pan.detail(fid))["data"]
            infos = (await pan.infos([fid, folder]))["data"]
            # V123Pan inherits User before Download, so pan.info is the user-info call and its
            # download_info method is only reachable through its class (an SDK bug).
            url = (await Download.info(pan, fid))["data"]["downloadUrl"]
            body = (await pan.client.get(url)).content
            return folder, fid, listed, paged, detail, infos, body
        finally:
            await pan.close()

    folder, fid, listed, paged, detail, infos, body = run(flow())
    assert [f["fileId"] for f in listed["fileList"]] == [fid] and listed["lastFileId"] == -1
    assert paged["total"] == 1 and paged["fileList"][0]["fileID"] == fid
    assert detail["filename"] == "a.bin" and detail["parentFileID"] == folder
    assert [i["fileId"] for i in infos["fileList"]] == [fid, folder]
    assert body == data


def test_rename_move_trash_recover(pan_server, token):
    async def flow():
        pan = connect(pan_server, access_token=token)
        try:
            a = (await pan.directory("a", 0))["data"]["dirID"]
            b = (await pan.directory("b", 0))["data"]["dirID"]
            async with FileUploader(pan) as up:
                fid = (await up.upload(b"move me", filename="m.txt", parent_id=a))["data"]["fileID"]
            await pan.name(fid, "n.txt")
            await pan.rename_batch([f"{fid}|o.txt"])
            await pan.move([fid], b)
            moved = pan_server.disk()["/b/o.txt"]
            await pan.delete([fid])  # its "delete" is the recycle bin
            binned = pan_server.disk()["/b/o.txt"]
            await pan.recover([fid])
            await pan.delete([fid])
            await pan.recover_to([fid], a)
            with pytest.raises(APIError):
                await pan.move([fid], 12345678)
            return fid, moved, binned
        finally:
            await pan.close()

    fid, moved, binned = run(flow())
    assert moved["id"] == fid and binned["trashed"] is True
    tree = pan_server.disk()
    assert tree["/a/o.txt"]["id"] == fid and tree["/a/o.txt"]["trashed"] is False
