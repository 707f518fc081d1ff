"""Platform header, access tokens, the envelope, request bodies and the QPS table
(pan123-image-hosting.md: 开发须知, 获取access_token, 限流处理)."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime

import pytest
from helpers import SHARED
from pan123_support import CLIENT_ID, CLIENT_SECRET, DOC_TIME, PLATFORM, md5

TOKEN_PATH = "/api/v1/access_token"


def token_call(client, body, headers=PLATFORM, **kw):
    r = client.post(TOKEN_PATH, headers=headers, json=body, **kw)
    assert r.status_code == 200
    return r.json()


def test_document_example_access_token(client, pan):
    # The document's request example, verbatim, for a tenant with those credentials.
    client.post("/_emulator/fixtures", json={"pan123": [{"client_id": "123456789", "client_secret": "123456789",
                                                          "uid": 42}]})
    raw = '{\n  "clientID": "123456789",\n  "clientSecret": "123456789"\n}'
    r = client.post(TOKEN_PATH, content=raw, headers={**PLATFORM, "Content-Type": "application/json"})
    body = r.json()
    assert r.status_code == 200 and body["code"] == 0 and body["message"] == "ok"
    assert set(body["data"]) == {"accessToken", "expiredAt"}
    assert body["data"]["accessToken"].startswith("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.")
    assert body["data"]["accessToken"].count(".") == 2
    expired = datetime.fromisoformat(body["data"]["expiredAt"])
    assert body["data"]["expiredAt"].endswith("+08:00")
    assert expired.timestamp() == int(DOC_TIME) + 30 * 86400  # default lifetime: 30 days on the clock
    assert body["x-traceID"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"clientID": CLIENT_ID, "clientSecret": "wrong"}, "clientSecret"),
        ({"clientID": "nobody", "clientSecret": CLIENT_SECRET}, "clientID"),
        ({"clientID": CLIENT_ID}, "clientSecret"),
        ({"clientSecret": CLIENT_SECRET}, "clientID"),
        ({"clientID": 123, "clientSecret": CLIENT_SECRET}, "clientID"),
    ],
)
def test_wrong_credentials_get_an_error_never_a_token(client, pan, body, words):
    doc = token_call(client, body)
    assert doc["code"] == 1 and doc["data"] is None and words in doc["message"]
    assert "accessToken" not in json.dumps(doc)


def test_refused_credentials_are_journaled_without_the_secret(client, pan):
    token_call(client, {"clientID": CLIENT_ID, "clientSecret": "wrong-secret-value"})
    entry = client.get("/_emulator/requests", params={"path": TOKEN_PATH}).json()[-1]
    assert entry["tenant"] == CLIENT_ID and entry["code"] == 1
    assert "wrong clientSecret" in entry["reason"]
    assert "wrong-secret-value" not in json.dumps(entry)


def test_every_answer_is_the_envelope_with_a_fresh_trace_id(client, pan):
    traces = set()
    for _ in range(3):
        doc = pan.call("/api/v1/oss/file/list", {"limit": 10, "type": 1})
        traces.add(doc["x-traceID"])
        doc = pan.call("/api/v1/oss/file/detail", method="GET", params={"fileID": "nope"})
        assert doc["code"] == 5066 and doc["data"] is None
        traces.add(doc["x-traceID"])
    assert len(traces) == 6
    # the journal keeps the trace id a support request would quote
    entry = client.get("/_emulator/requests", params={"path": "/api/v1/oss/file/detail"}).json()[-1]
    assert entry["x-traceID"] in traces


@pytest.mark.parametrize("platform", [None, "", "web", "OPEN_PLATFORM"])
def test_platform_header_is_required(client, pan, platform):
    headers = {"Authorization": f"Bearer {pan.token}"}
    if platform is not None:
        headers["Platform"] = platform
    for path, body in [("/api/v1/oss/file/list", {"limit": 10, "type": 1}),
                       (TOKEN_PATH, {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})]:
        r = client.post(path, headers=headers, json=body)
        assert r.status_code == 200
        doc = r.json()
        assert doc["code"] == 1 and doc["data"] is None and "platform" in doc["message"]


def test_platform_is_checked_before_the_token(client, pan):
    r = client.post("/api/v1/oss/file/list", headers={"Authorization": "Bearer x"}, json={"limit": 1, "type": 1})
    assert r.json()["code"] == 1


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer not-a-token",
                                           "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.x.y"])
def test_missing_or_unknown_token_is_401(client, pan, authorization):
    headers = dict(PLATFORM)
    if authorization is not None:
        headers["Authorization"] = authorization
    for path in ("/upload/v1/oss/file/create", "/upload/v1/file/create", "/api/v1/oss/file/list"):
        doc = client.post(path, headers=headers, json={}).json()
        assert (doc["code"], doc["message"], doc["data"]) == (401, "access_token无效", None)


def test_token_expires_on_the_clock(client, pan):
    pan.config(token_lifetime=60)
    doc = token_call(client, {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})
    token = doc["data"]["accessToken"]
    assert datetime.fromisoformat(doc["data"]["expiredAt"]).timestamp() == int(DOC_TIME) + 60
    pan.tick(59)
    assert pan.call("/api/v1/oss/file/list", {"limit": 1, "type": 1}, token=token)["code"] == 0
    pan.tick(1)
    assert pan.call("/api/v1/oss/file/list", {"limit": 1, "type": 1}, token=token)["code"] == 401
    entry = client.get("/_emulator/requests", params={"path": "/api/v1/oss/file/list"}).json()[-1]
    assert "expired" in entry["reason"]


def test_reset_drops_tokens(client, pan):
    token = pan.token
    client.post("/_emulator/reset")
    assert pan.call("/api/v1/oss/file/list", {"limit": 1, "type": 1}, token=token)["code"] == 401


def test_tokens_of_one_client_do_not_reach_anothers_files(client, pan):
    client.post("/_emulator/fixtures", json={"pan123": [{"client_id": "other", "client_secret": "s2", "uid": 7}]})
    mine = pan.mkdir("mine")
    other = pan.new_token("other", "s2")
    assert pan.call("/api/v1/oss/file/detail", method="GET", params={"fileID": mine}, token=other)["code"] == 5066
    listing = pan.ok("/api/v1/oss/file/list", {"limit": 100, "type": 1}, token=other)
    assert listing["fileList"] == []


# -- bodies -----------------------------------------------------------------------------------
def test_form_body_labelled_json_is_accepted(client, pan):
    """The PHP demo's http_build_query bodies with Content-Type: application/json."""
    r = client.post(TOKEN_PATH, headers={**PLATFORM, "Content-Type": "application/json"},
                    content=f"clientID={CLIENT_ID}&clientSecret={CLIENT_SECRET}")
    assert r.json()["code"] == 0
    pan.tick(1)  # access_token: 1 QPS
    data = b"form body"
    form = f"parentFileID=&filename=f.txt&etag={md5(data)}&size={len(data)}&type=1"
    r = client.post("/upload/v1/oss/file/create", headers={**pan.headers(), "Content-Type": "application/json"},
                    content=form)
    assert r.json()["code"] == 0 and r.json()["data"]["preuploadID"]


def test_php_array_syntax_in_form_bodies(client, pan):
    a, b, keep = pan.mkdir("a"), pan.mkdir("b"), pan.mkdir("keep")
    form = f"fileIDs%5B0%5D={a}&fileIDs%5B1%5D={b}"  # http_build_query(['fileIDs' => [$a, $b]])
    r = client.post("/api/v1/oss/file/delete", headers={**pan.headers(), "Content-Type": "application/json"},
                    content=form)
    assert r.json()["code"] == 0
    names = [f["filename"] for f in pan.ok("/api/v1/oss/file/list", {"limit": 100, "type": 1})["fileList"]]
    assert names == ["keep"] and keep


def test_field_names_match_case_insensitively(client, pan):
    data = b"x" * 10
    created = pan.ok("/upload/v1/oss/file/create", {"parentFileId": "", "fileName": "c.bin", "ETAG": md5(data),
                                                    "size": 10, "type": 1})
    url = pan.ok("/upload/v1/oss/file/get_upload_url", {"preuploadId": created["preuploadID"], "sliceno": 1})
    assert url["presignedURL"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
def test_unreadable_bodies_are_refused(client, pan, raw):
    before = pan.state()
    r = client.post("/upload/v1/oss/file/mkdir", headers={**pan.headers(), "Content-Type": "application/json"},
                    content=raw)
    doc = r.json()
    assert r.status_code == 200 and doc["code"] == 1 and doc["data"] is None
    assert pan.state() == before


def test_oversized_body_is_refused(client, pan):
    r = client.post("/upload/v1/oss/file/mkdir", headers=pan.headers(), content=b"{" + b" " * (1 << 20) + b"}")
    assert r.json()["code"] == 1


def test_json_numbers_must_be_numbers(client, pan):
    code, message = pan.err("/upload/v1/oss/file/create", {"parentFileID": "", "filename": "a", "etag": "0" * 32,
                                                           "size": "10", "type": 1})
    assert code == 1 and "size" in message


# -- QPS ------------------------------------------------------------------------------------------
def test_access_token_is_limited_to_one_a_second_per_client(client, pan):
    pan.new_token()
    doc = token_call(client, {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})
    assert (doc["code"], doc["message"], doc["data"]) == (429, "请求太频繁", None)
    client.post("/_emulator/fixtures", json={"pan123": [{"client_id": "other", "client_secret": "s2", "uid": 7}]})
    assert token_call(client, {"clientID": "other", "clientSecret": "s2"})["code"] == 0  # per client id
    pan.tick(1)
    assert token_call(client, {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})["code"] == 0


def test_disk_create_is_limited_to_two_a_second_and_recovers(client, pan):
    pan.token  # noqa: B018 - fetch the token first (its own limit)
    codes = []
    for n in range(3):
        data = f"file {n}".encode()
        doc = pan.call("/upload/v1/file/create", {"parentFileID": 0, "filename": f"{n}.txt", "etag": md5(data),
                                                  "size": len(data)})
        codes.append(doc["code"])
    assert codes == [0, 0, 429]
    pan.tick(0.5)
    assert pan.call("/upload/v1/file/create", {"parentFileID": 0, "filename": "x", "etag": "0" * 32,
                                               "size": 1})["code"] == 429
    pan.tick(0.5)
    assert pan.call("/upload/v1/file/create", {"parentFileID": 0, "filename": "x", "etag": "0" * 32,
                                               "size": 1})["code"] == 0


def test_endpoints_outside_the_table_are_not_limited(client, pan):
    for n in range(6):
        data = f"file {n}".encode()
        assert pan.create(data, f"{n}.txt")["preuploadID"]


def test_qps_table_can_be_overridden_and_disabled(client, pan, emu):
    pan.config(qps={"/api/v1/access_token": 3})
    for _ in range(3):
        assert token_call(client, {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})["code"] == 0
    assert token_call(client, {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})["code"] == 429
    pan.config(qps={"api/v1/access_token": 0})  # 0 = unlimited
    assert token_call(client, {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})["code"] == 0
    pan.config(reset=True)
    assert client.get("/_emulator/pan123/config").json()["qps"]["api/v1/access_token"] == 1
    emu.limiter.enabled = False  # what --no-rate-limits sets
    for _ in range(3):
        assert token_call(client, {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})["code"] == 0
    assert client.get("/_emulator/pan123/config").json()["rate_limits"] is False


def test_config_defaults_are_the_documented_values(client):
    doc = client.get("/_emulator/pan123/config").json()
    assert doc["slice_size"] == 104857600
    assert doc["token_lifetime"] == 30 * 86400
    assert doc["qps"]["upload/v1/file/create"] == 2 and doc["qps"]["api/v1/file/list"] == 4


@pytest.mark.parametrize("body", [{"slice_size": 0}, {"slice_size": 1.5}, {"async_seconds": -1}, {"bogus": 1},
                                  {"qps": {"a": -1}}, {"qps": [1]}, {"token_lifetime": "1"}])
def test_bad_config_changes_nothing(client, body):
    before = client.get("/_emulator/pan123/config").json()
    r = client.post("/_emulator/pan123/config", json={**body, "presign_expires": 5})
    assert r.status_code == 400 and r.json()["error"]
    assert client.get("/_emulator/pan123/config").json() == before


def test_jwt_payload_carries_the_expiry(client, pan):
    doc = token_call(client, {"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET})
    payload = doc["data"]["accessToken"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] == int(DOC_TIME) + 30 * 86400


def test_json_body_labelled_as_a_form_is_read_as_json(client, pan):
    """curl -d '{...}' without -H Content-Type labels the JSON a form."""
    r = client.post(TOKEN_PATH, content=json.dumps({"clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET}),
                    headers={**PLATFORM, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.json()["code"] == 0


# -- wrong HTTP methods ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "want"),
    [
        ("GET", "/api/v1/oss/file/list", "POST"),
        ("POST", "/api/v1/oss/file/detail", "GET"),  # the PHP demo's open_request POSTs everything
        ("PUT", "/upload/v1/oss/file/create", "POST"),
        ("DELETE", "/api/v1/oss/file/delete", "POST"),
        ("GET", TOKEN_PATH, "POST"),
        ("PATCH", "/upload/v1/file/create", "POST"),
    ],
)
def test_wrong_method_answers_the_envelope_and_changes_nothing(client, pan, method, path, want):
    keep = pan.mkdir("keep")
    before = pan.state()
    r = client.request(method, path, headers=pan.headers(), json={"fileIDs": [keep], "limit": 10, "type": 1})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert set(doc) == {"code", "message", "data", "x-traceID"} and doc["x-traceID"]
    assert doc["code"] == 1 and doc["data"] is None and method in doc["message"] and want in doc["message"]
    assert pan.state() == before
    entry = client.get("/_emulator/requests", params={"path": path}).json()[-1]
    assert entry["api"] == "pan123" and entry["code"] == 1 and "not allowed" in entry["reason"]


# -- numbers --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/oss/file/list", {"limit": 10, "type": 1, "startTime": 10**30}, "startTime"),
        ("/api/v1/oss/file/list", {"limit": 10, "type": 1, "endTime": -(10**20)}, "endTime"),
        ("/api/v1/oss/file/list", {"limit": 10, "type": 1, "startTime": 1e300}, "startTime"),
        ("/upload/v1/oss/file/create", {"parentFileID": "", "filename": "a", "etag": "0" * 32, "size": 2**63,
                                        "type": 1}, "size"),
        ("/upload/v1/file/create", {"parentFileID": 0, "filename": "a", "etag": "0" * 32, "size": 10**20}, "size"),
    ],
)
def test_numbers_beyond_64_bits_are_refused_not_an_internal_error(client, pan, path, body, field):
    """The real service decodes numbers as Go int64; the emulator used to answer code 500."""
    before = pan.state()
    code, message = pan.err(path, body)
    assert code == 1 and field in message
    assert pan.state() == before


# -- the QPS table is the document's, exactly ---------------------------------------------------------
def document_qps_table() -> dict[str, int]:
    doc = SHARED / "api-docs" / "pan123-image-hosting.md"
    if not doc.exists():
        pytest.skip(f"the vendor document is not here ({doc}); the QPS table is read from it")
    text = doc.read_text(encoding="utf-8")
    section = text.split("#### 限流处理", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\|\s*([a-z0-9_/]+?)\s*\|\s*(\d+)\s*\|\s*$", section, flags=re.MULTILINE)
    return {path: int(qps) for path, qps in rows}


def test_qps_table_is_exactly_the_documents(client):
    table = document_qps_table()
    assert len(table) == 19  # every row of the document's table was read
    assert client.get("/_emulator/pan123/config").json()["qps"] == table
