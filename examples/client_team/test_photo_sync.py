"""How a client team tests its code against the emulator: only the plugin's fixtures.

``emulator`` is a fresh in-process emulator per test (fast, no socket); ``emulator_server``
is a live one for code that opens its own connections (here: ``requests``)."""

import hashlib

import pytest
from photo_sync import Pan123Gallery, push_audience


@pytest.fixture
def gallery(emulator):
    creds = emulator.credentials.pan123
    return Pan123Gallery(emulator.client, emulator.url, creds.client_id, creds.client_secret)


def test_upload_lands_with_the_right_bytes(gallery, emulator):
    data = b"\x89PNG" + bytes(range(256)) * 100
    file_id = gallery.upload("cat.png", data)
    assert emulator.object_bytes("pan123", file_id) == data
    [f] = [f for f in emulator.objects("pan123") if f["name"] == "cat.png"]
    assert f["etag"] == hashlib.md5(data).hexdigest()


def test_a_failed_slice_put_is_retried(gallery, emulator):
    emulator.pan123_config(slice_size=1024)
    # The third slice PUT fails once with a 503; the client must retry it.
    emulator.faults.add(api="pan123", method="PUT", path="/_pan123/*", skip=2, times=1, status=503)
    data = bytes(range(256)) * 16  # 4 KiB: four slices
    file_id = gallery.upload("retry.bin", data)
    assert emulator.object_bytes("pan123", file_id) == data
    puts = emulator.requests(api="pan123", path="/_pan123/*")
    assert [p["status"] for p in puts] == [200, 200, 503, 200, 200]
    assert puts[2]["fault"]["action"] == "status"


def test_a_dropped_connection_is_retried(gallery, emulator):
    emulator.faults.add(api="pan123", method="PUT", path="/_pan123/*", times=1, drop=True)
    file_id = gallery.upload("dropped.bin", b"x" * 5000)
    assert emulator.object_bytes("pan123", file_id) == b"x" * 5000


def test_an_expired_token_is_refreshed(gallery, emulator):
    gallery.upload("first.png", b"one")
    emulator.clock.advance(31 * 24 * 3600)  # tokens live 30 days
    gallery.upload("second.png", b"two")
    logins = emulator.requests(path="/api/v1/access_token")
    assert len(logins) == 2
    refused = emulator.requests(api="pan123", status=200)
    assert any(e["code"] == 401 for e in refused)


def test_rate_limited_calls_are_waited_out(gallery, emulator):
    emulator.faults.add(api="pan123", path="/upload/v1/oss/file/create", times=2, error=429)
    gallery.upload("busy.png", b"busy")
    creates = emulator.requests(path="/upload/v1/oss/file/create")
    assert [e["code"] for e in creates] == [429, 429, 0]


def test_audience_file_reaches_jpush(emulator_server):
    creds = emulator_server.credentials.jpush
    file_id = push_audience(emulator_server.url, creds.app_key, creds.master_secret, ["alice", " bob ", "carol"])
    [f] = emulator_server.jpush_files()
    assert f["file_id"] == file_id
    assert f["lines"] == ["alice", "bob", "carol"]
    [sent] = emulator_server.requests(api="jpush", path="/v3/files/alias")
    assert sent["headers"]["authorization"] == f"Basic {creds.app_key}:***"


def test_gallery_works_against_a_live_server_too(emulator_server):
    import httpx

    creds = emulator_server.credentials.pan123
    with httpx.Client() as http:
        gallery = Pan123Gallery(http, emulator_server.url, creds.client_id, creds.client_secret)
        file_id = gallery.upload("live.png", b"live bytes")
    assert emulator_server.object_bytes("pan123", file_id) == b"live bytes"
