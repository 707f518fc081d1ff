"""--body-timeout (issue 14 §4): a client that stalls while sending a body, or announces more
bytes than it sends, loses its connection after that many seconds without a byte; the upload
is answered as an incomplete one (nothing stored, no answer) and the journal says why."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from helpers import JPUSH_AUTH, basic, start_server

from emulator.settings import DEFAULT_BODY_TIMEOUT, Settings


def _stall(url: str, head: bytes, sent: bytes, wait: float = 10.0) -> tuple[bytes, float]:
    """Send ``head`` + ``sent`` and stall; answers what came back and when the server closed."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head + sent)
        started = time.monotonic()
        sock.settimeout(wait)
        got = b""
        try:
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                got += piece
        except ConnectionResetError:
            pass
        except TimeoutError:
            pytest.fail("the server kept the stalled connection open")
        return got, time.monotonic() - started


def _jpush_head(length: int) -> bytes:
    return (
        f"POST /v3/files/alias HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {basic(*JPUSH_AUTH)}\r\n"
        f"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_stalled_upload_is_abandoned_and_nothing_is_stored(tmp_path: Path):
    server = start_server(tmp_path, "--body-timeout", "1")
    try:
        part = b'--XyZ\r\nContent-Disposition: form-data; name="filename"; filename="a.txt"\r\n\r\nalice\nbob\n'
        got, took = _stall(server.url, _jpush_head(10_000), part)  # announces 10 000 bytes, sends ~80
        assert got == b"" and 0.8 < took < 6, (got, took)
        got, took = _stall(server.url, _jpush_head(500), b"")  # headers, then nothing
        assert got == b"" and took < 6
        # a 123pan presigned PUT (S3) that stalls the same way
        token = httpx.post(server.url + "/_emulator/pan123/tokens", json={}).json()["accessToken"]
        headers = {"Authorization": f"Bearer {token}", "Platform": "open_platform"}
        created = httpx.post(server.url + "/upload/v1/oss/file/create", headers=headers, json={
            "parentFileID": "", "filename": "a.bin", "etag": "0" * 32, "size": 3000, "type": 1}).json()
        pre = created["data"]["preuploadID"]
        link = httpx.post(server.url + "/upload/v1/oss/file/get_upload_url", headers=headers,
                          json={"preuploadID": pre, "sliceNo": 1}).json()["data"]["presignedURL"]
        u = urlsplit(link)
        head = f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: 3000\r\n\r\n".encode()
        got, took = _stall(server.url, head, b"x" * 1000)
        assert got == b"" and took < 6

        assert httpx.get(server.url + "/v3/files", auth=JPUSH_AUTH).json()["files"] == []
        assert httpx.get(server.url + "/_emulator/store").json() == {"blobs": 0, "bytes": 0}
        parts = httpx.get(server.url + "/_emulator/pan123/uploads").json()[0]["parts"]
        assert parts == []
        entries = httpx.get(server.url + "/_emulator/requests").json()
        stalled = [e for e in entries if "--body-timeout" in (e.get("reason") or "")]
        seen = [(e["path"], e["status"], e.get("code")) for e in stalled]
        assert len(stalled) == 3 and all(e["status"] is None for e in stalled), seen
        # an upload that keeps sending is not cut, however slow in total
        r = httpx.post(server.url + "/v3/files/alias", files={"filename": ("a.txt", b"alice\n", "text/plain")},
                       auth=JPUSH_AUTH)
        assert r.status_code == 200
    finally:
        server.stop()
    log = server.proc.stderr.read()
    assert "Traceback" not in log and "Exception" not in log, log


def test_a_stalled_admin_body_is_one_log_line(tmp_path: Path):
    server = start_server(tmp_path, env={"EMULATOR_BODY_TIMEOUT": "0.5"})
    try:
        head = (b"POST /_emulator/fixtures HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n")
        got, took = _stall(server.url, head, b'{"jpush": [')
        assert got == b"" and took < 5
        assert httpx.get(server.url + "/_emulator/health").status_code == 200
    finally:
        server.stop()
    log = server.proc.stderr.read()
    assert "Traceback" not in log, log
    assert log.count("closed the connection") == 1, log


def test_the_body_timeout_setting():
    assert Settings().body_timeout == DEFAULT_BODY_TIMEOUT == 60
    assert Settings(body_timeout="2.5").body_timeout == 2.5
    assert Settings(body_timeout=0).body_timeout == 0
    for bad in ("-1", "soon", "1e9"):
        with pytest.raises(ValueError):
            Settings(body_timeout=bad)
