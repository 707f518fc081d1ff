"""The in-process transports of the ``emulator`` fixture (emulator/testing/asgi.py) behave as a
socket would: bodies stream both ways, the read timeout applies to each wait, exceptions of the
app and of the client's own body reach the test, and a request left half-way is cleaned up."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time

import httpx
import pytest
from helpers import pan123_file, pan123_slice_url

from emulator.testing import InProcessEmulator
from emulator.testing.asgi import SyncASGITransport

MiB = 1 << 20


def jpush_list(emu, **kwargs):
    return emu.client.get("/v3/files", headers={"Authorization": emu.jpush_auth()}, **kwargs)


def pan123_upload(emu, data: bytes) -> str:
    """A one-slice 123pan upload; answers the file's download URL."""
    return pan123_file(emu, data, "big.bin")[1]


# -- read timeouts ---------------------------------------------------------------------------------


def test_a_latency_longer_than_the_read_timeout_raises_read_timeout(emulator):
    rule = emulator.faults.add(api="jpush", latency_ms=2000, times=1)
    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        jpush_list(emulator, timeout=0.2)
    assert time.perf_counter() - started < 1.5
    [entry] = emulator.requests(api="jpush")
    assert entry["status"] is None and entry["fault"]["id"] == rule["id"]
    assert jpush_list(emulator, timeout=0.2).status_code == 200  # the rule fired once; nothing is stuck


def test_the_async_client_times_out_too(emulator):
    emulator.faults.add(api="jpush", latency_ms=2000)

    async def call() -> None:
        async with emulator.async_client(timeout=0.2) as c:
            await c.get("/v3/files", headers={"Authorization": emulator.jpush_auth()})

    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(call())
    assert time.perf_counter() - started < 1.5


def test_an_upload_that_keeps_moving_never_times_out(emulator):
    """The read timeout is per wait, as on a socket: a body sent over longer than it is fine."""
    _, _, url = pan123_slice_url(emulator, b"x" * 10, "slow.bin")

    def slowly():
        for _ in range(10):
            time.sleep(0.06)
            yield b"x"

    started = time.perf_counter()
    r = emulator.client.put(url, content=slowly(), headers={"content-length": "10"}, timeout=0.3)
    assert r.status_code == 200
    assert time.perf_counter() - started > 0.3


# -- streaming -------------------------------------------------------------------------------------


def test_a_download_streams_in_pieces(emulator):
    data = bytes(range(256)) * (12 * 4096)  # 12 MiB
    url = pan123_upload(emulator, data)
    pieces, md5 = 0, hashlib.md5()
    with emulator.client.stream("GET", url) as r:
        assert r.status_code == 200 and r.headers["content-length"] == str(len(data))
        for piece in r.iter_raw():
            pieces += 1
            md5.update(piece)
            assert len(piece) <= 4 * MiB
    assert pieces > 1 and md5.hexdigest() == hashlib.md5(data).hexdigest()


def test_a_response_closed_early_ends_its_request(emulator):
    url = pan123_upload(emulator, b"y" * (6 * MiB))
    with emulator.client.stream("GET", url) as r:
        first = next(r.iter_raw())
        assert first
    # the app was told and stopped: its journal entry is written, and the emulator serves on
    [entry] = emulator.requests(path="/_pan123/vip/*")
    assert entry["status"] == 200
    assert emulator.client.get(url).content == b"y" * (6 * MiB)


def test_head_answers_headers_only(emulator):
    url = pan123_upload(emulator, b"z" * 1000)
    r = emulator.client.head(url)
    assert r.status_code == 200 and r.headers["content-length"] == "1000" and r.content == b""


# -- errors reach the test ---------------------------------------------------------------------------


def test_an_exception_of_the_clients_own_body_reaches_the_test(emulator):
    def failing():
        yield b"--b\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"a.txt\"\r\n\r\nalice\n"
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        emulator.client.post("/v3/files/alias", content=failing(), headers={
            "Authorization": emulator.jpush_auth(), "content-type": "multipart/form-data; boundary=b"})
    [entry] = emulator.requests(api="jpush")
    assert entry["status"] is None and entry["code"] is None
    assert entry["reason"] == "the client closed the connection before the request's end"
    assert emulator.jpush_files() == []
    assert emulator._admin("GET", "/store") == {"blobs": 0, "bytes": 0}


def test_an_exception_raised_by_the_app_reaches_the_test(emulator, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("journal is broken")

    monkeypatch.setattr(emulator.state.journal, "query", broken)
    with pytest.raises(RuntimeError, match="journal is broken"):
        emulator.client.get("/_emulator/requests")

    async def call() -> None:
        async with emulator.async_client() as c:
            await c.get("/_emulator/requests")

    with pytest.raises(RuntimeError, match="journal is broken"):
        asyncio.run(call())
    monkeypatch.undo()
    assert emulator.client.get("/_emulator/health").status_code == 200


def test_a_dropped_connection_raises_at_once_even_when_streaming(emulator):
    emulator.faults.add(api="jpush", drop=True)
    with (
        pytest.raises(httpx.RemoteProtocolError),
        emulator.client.stream("GET", "/v3/files", headers={"Authorization": emulator.jpush_auth()}),
    ):
        pass


# -- several emulators, teardown -------------------------------------------------------------------


def test_a_download_of_one_emulator_streams_into_an_upload_to_another():
    """Both run on the one loop thread: the upload's body is read on the test's thread."""
    data = bytes(range(256)) * 8192  # 2 MiB
    with InProcessEmulator() as a, InProcessEmulator() as b:
        url = pan123_upload(a, data)
        _, _, put_url = pan123_slice_url(b, data, "copy.bin")
        outcome: list[object] = []

        def copy() -> None:
            with a.client.stream("GET", url) as down:
                outcome.append(b.client.put(put_url, content=down.iter_raw(),
                                            headers={"content-length": str(len(data))}).status_code)

        worker = threading.Thread(target=copy, daemon=True)
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), "the copy between two in-process emulators hung"
        assert outcome == [200]


def test_closing_an_emulator_with_a_response_still_open_does_not_hang():
    emu = InProcessEmulator()
    url = pan123_upload(emu, b"q" * (8 * MiB))
    response = emu.client.send(emu.client.build_request("GET", url), stream=True)
    assert response.status_code == 200
    started = time.perf_counter()
    emu.close()  # as the fixture's teardown after a test that failed half-way through a read
    assert time.perf_counter() - started < 5
    with InProcessEmulator() as fresh:
        assert fresh.requests() == []
        assert jpush_list(fresh).status_code == 200


def test_the_async_client_streams_bodies_and_sees_drops(emulator):
    async def call() -> tuple[int, bytes]:
        async def body():
            for piece in (b"--b\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"a.txt\"\r\n\r\n",
                          b"alice\nbob\n", b"\r\n--b--\r\n"):
                yield piece

        async with emulator.async_client() as c:
            r = await c.post("/v3/files/alias", content=body(), headers={
                "Authorization": emulator.jpush_auth(), "content-type": "multipart/form-data; boundary=b"})
            emulator.faults.add(api="jpush", drop=True)
            with pytest.raises(httpx.RemoteProtocolError):
                await c.get("/v3/files", headers={"Authorization": emulator.jpush_auth()})
            return r.status_code, r.content

    status, content = asyncio.run(call())
    assert status == 200, content
    assert [f["lines"] for f in emulator.jpush_files()] == [["alice", "bob"]]


def test_a_cut_upload_through_the_fixtures_client(emulator):
    data = bytes(range(256)) * 4096  # 1 MiB, sent in pieces
    _, _, url = pan123_slice_url(emulator, data, "cut.bin")
    pieces = lambda: (data[i:i + 65536] for i in range(0, len(data), 65536))  # noqa: E731
    emulator.faults.add(api="pan123", method="PUT", cut_after=300_000, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        emulator.client.put(url, content=pieces(), headers={"content-length": str(len(data))})
    assert emulator._admin("GET", "/store") == {"blobs": 0, "bytes": 0}
    [entry] = emulator.requests(path="/_pan123/s3/*")
    assert entry["status"] is None and entry["fault"]["action"] == "cut"
    assert emulator.client.put(url, content=pieces(), headers={"content-length": str(len(data))}).status_code == 200


def test_the_read_timeout_counts_from_each_read():
    """As on a socket: a client slow between reads, then waiting less than its timeout, is fine."""

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await asyncio.sleep(0.35)  # from when the client took "one"
        await send({"type": "http.response.body", "body": b"two", "more_body": False})

    with (
        httpx.Client(transport=SyncASGITransport(app), base_url="http://x", timeout=0.2) as c,
        c.stream("GET", "/") as r,
    ):
        pieces = []
        for piece in r.iter_raw():
            pieces.append(piece)
            time.sleep(0.25)  # away longer than the timeout; then waits 0.1 s for "two"
    assert pieces == [b"one", b"two"]
