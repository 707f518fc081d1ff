"""Journal redaction, filters and bounds."""

from __future__ import annotations

import base64

from emulator.core.clock import Clock
from emulator.core.journal import Journal, mask, redact_authorization, redact_headers, redact_pairs


def test_basic_authorization_keeps_the_user_and_hides_the_secret():
    value = "Basic " + base64.b64encode(b"appkey:topsecret").decode()
    assert redact_authorization(value) == "Basic appkey:***"
    assert redact_authorization("Basic %%%") == "Basic ***"
    assert "abcdefghijklmnop" not in redact_authorization("Bearer abcdefghijklmnop")


def test_secret_like_query_parameters_and_headers_are_masked():
    pairs = [
        ("access_token", "1003775_3145728_1577429797_abf2f411"),
        ("sign", "0123456789ABCDEF0123456789ABCDEF"),
        ("X-Amz-Signature", "deadbeefdeadbeefdeadbeef"),
        ("X-Amz-SignedHeaders", "host"),
        ("clientSecret", "verysecretvalue"),
        ("size", "100"),
        ("key", "/1/upload.txt"),
    ]
    out = redact_pairs(pairs)
    assert out["access_token"] == "1003***"
    assert out["sign"] == "0123***"
    assert out["X-Amz-Signature"] == "dead***"
    assert out["X-Amz-SignedHeaders"] == "host"
    assert out["clientSecret"] == "very***"
    assert out["size"] == "100" and out["key"] == "/1/upload.txt"
    headers = redact_headers([(b"X-APP-Key", b"supersecretkey"), (b"Content-Type", b"text/plain")])
    assert headers == {"x-app-key": "supe***", "content-type": "text/plain"}
    assert mask("short") == "***"


def test_repeated_query_parameters_are_kept_as_a_list():
    assert redact_pairs([("a", "1"), ("a", "2"), ("a", "3")]) == {"a": ["1", "2", "3"]}


def entry(api, path, status, tenant=None):
    return {"api": api, "path": path, "status": status, "tenant": tenant}


def test_journal_filters_and_limit_keep_oldest_first():
    j = Journal(Clock(), size=100)
    j.record(entry("jpush", "/v3/files", 200, "k1"))
    j.record(entry("jpush", "/v3/files/abc", 400, "k2"))
    j.record(entry(None, "/nowhere", 404))
    j.record(entry("pan123", "/api/v1/access_token", 200))
    assert [e["path"] for e in j.query(api="jpush")] == ["/v3/files", "/v3/files/abc"]
    assert [e["path"] for e in j.query(api="none")] == ["/nowhere"]
    assert [e["path"] for e in j.query(path="/v3/files*")] == ["/v3/files", "/v3/files/abc"]
    assert [e["status"] for e in j.query(status="4xx")] == [400, 404]
    assert [e["status"] for e in j.query(status="200")] == [200, 200]
    assert [e["path"] for e in j.query(limit=2)] == ["/nowhere", "/api/v1/access_token"]
    assert j.query(limit=0) == []
    assert [e["tenant"] for e in j.query(tenant="k2")] == ["k2"]
    ids = [e["id"] for e in j.query()]
    assert ids == sorted(ids)


def test_journal_is_a_bounded_ring():
    j = Journal(Clock(), size=3)
    for i in range(5):
        j.record(entry("jpush", f"/{i}", 200))
    assert [e["path"] for e in j.query()] == ["/2", "/3", "/4"]
    j.clear()
    assert j.query() == [] and len(j) == 0
