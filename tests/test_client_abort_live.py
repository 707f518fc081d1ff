"""A client that goes away half-way through sending its upload (a real socket closed early):
no error in the server's log, a journal entry with no status and the reason, nothing stored."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
from fault_kit import Kit, jpush_auth
from helpers import start_server

LOG_NOISE = ("unexpected error", "Exception in ASGI application", "Traceback", "ERROR")


def send_half(url: str, head: str, body_start: bytes) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as s:
        s.sendall(head.encode("latin-1") + b"\r\n" + body_start)
        time.sleep(0.3)  # the server is reading the body now


def test_a_client_gone_mid_upload_is_no_server_error(tmp_path):
    srv = start_server(tmp_path, "--log-level", "warning")
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            kit = Kit(http)
            head = b'--b\r\nContent-Disposition: form-data; name="filename"; filename="a.txt"\r\n\r\n'
            body = head + b"alice\n" * 5000
            send_half(srv.url, "POST /v3/files/alias HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: {jpush_auth()}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                      "Content-Length: 1000000\r\n", body)
            presigned = urlsplit(kit.pan_presigned(b"s" * 100000))
            send_half(srv.url, f"PUT {presigned.path}?{presigned.query} HTTP/1.1\r\nHost: {presigned.netloc}\r\n"
                      "Content-Length: 100000\r\n", b"s" * 40000)
            deadline = time.monotonic() + 10
            while len(gone := [e for e in kit.journal() if e["method"] in ("POST", "PUT") and e["status"] is None]) < 2:
                assert time.monotonic() < deadline, kit.journal()
                time.sleep(0.05)
            assert [(e["path"].split("/")[1], e["reason"]) for e in gone] == [
                ("v3", "the client closed the connection before the request's end"),
                ("_pan123", "the client closed the connection before the request's end"),
            ]
            assert all(e["code"] is None for e in gone)
            evidence = kit.evidence()
            assert evidence["jpush"] == [] and evidence["store"] == {"blobs": 0, "bytes": 0}
            assert evidence["pan123_uploads"][0]["parts"] == []
    finally:
        srv.stop()
    log = srv.proc.stdout.read() + srv.proc.stderr.read()
    assert not [word for word in LOG_NOISE if word in log], log
