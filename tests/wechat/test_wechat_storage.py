"""Every rule of the WeChat Cloud Base storage API over HTTP (wechat-tcb-storage.md and the
WeChat notes of api-docs/README.md; issue #6)."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from emulator.apis.wechat.models import WeChatToken, WeChatUploadGrant
from emulator.apis.wechat.naming import bucket_of
from emulator.core.blobs import Blob, BlobChunk
from emulator.testing.asgi import SyncASGITransport
from emulator.testing.inprocess import BASE_URL

APPID = "wxtest0000000000001"
SECRET = "test-wechat-secret-00000000000001"
ENV = "test-1a2b3c"
T0 = 1557307130.0  # the q-sign-time start in the document's authorization example

# The document's request examples, verbatim.
DOC_UPLOAD = {"env": "test2-4a89da", "path": "this/is/a/example/file.path"}
DOC_DOWNLOAD = {
    "env": "test2-4a89da",
    "file_list": [{"fileid": "cloud://test2-4a89da.7465-test2-4a89da/A.png", "max_age": 7200}],
}
DOC_DELETE = {"env": "test2-4a89da", "fileid_list": ["cloud://test2-4a89da.7465-test2-4a89da/A.png"]}
DOC_APP = {"appid": "wxdocexample00000001", "secret": "doc-example-secret", "envs": ["test2-4a89da"]}

ENDPOINTS = ["uploadfile", "batchdownloadfile", "batchdeletefile"]
VALID_BODY = {
    "uploadfile": {"env": ENV, "path": "a/b.txt"},
    "batchdownloadfile": {"env": ENV, "file_list": [{"fileid": f"cloud://{ENV}.x/a", "max_age": 60}]},
    "batchdeletefile": {"env": ENV, "fileid_list": [f"cloud://{ENV}.x/a"]},
}


# -- helpers ----------------------------------------------------------------------------
def get_token(client, appid=APPID, secret=SECRET) -> str:
    r = client.get("/cgi-bin/token", params={"grant_type": "client_credential", "appid": appid, "secret": secret})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def tcb(client, name, body=None, token=None, *, method="POST", content=None):
    params = {} if token is None else {"access_token": token}
    if content is None and body is not None:
        return client.request(method, f"/tcb/{name}", params=params, json=body)
    return client.request(method, f"/tcb/{name}", params=params, content=content)


def errcode(response) -> int:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"errcode", "errmsg"}, body
    assert isinstance(body["errmsg"], str) and body["errmsg"]
    return body["errcode"]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def cos_form(link: dict, object_key: str, content: bytes, *, file_first=False, override=None) -> list:
    fields = {
        "key": object_key,
        "Signature": link["authorization"],
        "x-cos-security-token": link["token"],
        "x-cos-meta-fileid": link["cos_file_id"],
    }
    fields.update(override or {})
    parts = [(name, (None, value)) for name, value in fields.items() if value is not None]
    file_part = ("file", ("upload.bin", content, "application/octet-stream"))
    return [file_part, *parts] if file_first else [*parts, file_part]


def upload(client, token, path, content: bytes, env=ENV) -> dict:
    link = tcb(client, "uploadfile", {"env": env, "path": path}, token).json()
    assert link["errcode"] == 0, link
    r = client.post(path_of(link["url"]), files=cos_form(link, path, content))
    assert r.status_code == 204, r.text
    return link


def links(client, token, file_ids, max_age=600, env=ENV) -> list[dict]:
    body = {"env": env, "file_list": [{"fileid": f, "max_age": max_age} for f in file_ids]}
    r = tcb(client, "batchdownloadfile", body, token)
    assert r.json()["errcode"] == 0, r.text
    return r.json()["file_list"]


def stored(client, appid=None, env=None) -> list[dict]:
    params = {k: v for k, v in {"appid": appid, "env": env}.items() if v is not None}
    return client.get("/_emulator/wechat/files", params=params).json()


def count(emu, model) -> int:
    with emu.db.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def state(client, emu) -> tuple:
    """Everything a refused request must leave unchanged."""
    return (stored(client), emu.blobs.stats(), count(emu, Blob), count(emu, BlobChunk),
            count(emu, WeChatUploadGrant), count(emu, WeChatToken))


def cos_error(response) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/xml")
    m = re.search(r"<Code>([^<]+)</Code>", response.text)
    assert m and "<Message>" in response.text, response.text
    return response.status_code, m.group(1)


@pytest.fixture
def frozen(client):
    client.post("/_emulator/clock", json={"freeze": True, "set": T0})
    return T0


@pytest.fixture
def token(client):
    return get_token(client)


@pytest.fixture
def doc_app(client):
    client.post("/_emulator/fixtures", json={"wechat": [DOC_APP]})
    return get_token(client, DOC_APP["appid"], DOC_APP["secret"])


# -- access token -----------------------------------------------------------------------
def test_token_answer_has_the_documented_shape(client):
    r = client.get("/cgi-bin/token", params={"grant_type": "client_credential", "appid": APPID, "secret": SECRET})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "expires_in"}
    assert body["expires_in"] == 7200
    assert re.fullmatch(r"[A-Za-z0-9_-]{64,512}", body["access_token"])


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"appid": APPID, "secret": SECRET}, 40002),
        ({"grant_type": "authorization_code", "appid": APPID, "secret": SECRET}, 40002),
        ({"grant_type": "client_credential", "secret": SECRET}, 41002),
        ({"grant_type": "client_credential", "appid": "wxunknown0000000001", "secret": SECRET}, 40013),
        ({"grant_type": "client_credential", "appid": APPID}, 41004),
        ({"grant_type": "client_credential", "appid": APPID, "secret": "wrong-secret"}, 40001),
    ],
)
def test_token_errors(client, emu, params, code):
    before = state(client, emu)
    assert errcode(client.get("/cgi-bin/token", params=params)) == code
    assert state(client, emu) == before


def test_token_must_be_fetched_with_get(client, emu):
    params = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    assert errcode(client.post("/cgi-bin/token", params=params)) == 43001
    assert count(emu, WeChatToken) == 0


def test_token_expires_after_7200_seconds_on_the_clock(client, frozen):
    token = get_token(client)
    client.post("/_emulator/clock", json={"advance": 7199})
    assert tcb(client, "uploadfile", VALID_BODY["uploadfile"], token).json()["errcode"] == 0
    client.post("/_emulator/clock", json={"advance": 1})
    assert errcode(tcb(client, "uploadfile", VALID_BODY["uploadfile"], token)) == 42001


def test_a_new_token_leaves_the_old_one_five_minutes(client, frozen):
    old = get_token(client)
    client.post("/_emulator/clock", json={"advance": 1000})
    new = get_token(client)
    assert new != old
    client.post("/_emulator/clock", json={"advance": 299})
    assert tcb(client, "uploadfile", VALID_BODY["uploadfile"], old).json()["errcode"] == 0
    client.post("/_emulator/clock", json={"advance": 1})
    assert errcode(tcb(client, "uploadfile", VALID_BODY["uploadfile"], old)) == 40001
    assert tcb(client, "uploadfile", VALID_BODY["uploadfile"], new).json()["errcode"] == 0


def test_an_expired_token_says_expired_even_when_superseded(client, frozen):
    old = get_token(client)
    client.post("/_emulator/clock", json={"advance": 7100})
    get_token(client)
    client.post("/_emulator/clock", json={"advance": 100})
    assert errcode(tcb(client, "uploadfile", VALID_BODY["uploadfile"], old)) == 42001


def test_tokens_are_kept_in_the_database_and_reset_drops_them(client, emu, token):
    assert count(emu, WeChatToken) == 1
    client.post("/_emulator/reset")
    assert count(emu, WeChatToken) == 0
    assert errcode(tcb(client, "uploadfile", VALID_BODY["uploadfile"], token)) == 40014


def test_tokens_survive_a_restart_of_a_file_backed_emulator(tmp_path):
    from fastapi.testclient import TestClient

    from emulator.app import create_app
    from emulator.settings import Settings

    settings = Settings(data_dir=tmp_path / "data")
    first = create_app(settings)
    with TestClient(first) as c:
        token = get_token(c)
    first.state.emulator.close()
    second = create_app(settings)
    with TestClient(second) as c:
        assert tcb(c, "uploadfile", VALID_BODY["uploadfile"], token).json()["errcode"] == 0
    second.state.emulator.close()


def test_refused_credentials_are_journaled_with_reason_and_masked_secret(client):
    client.delete("/_emulator/requests")
    client.get("/cgi-bin/token", params={"grant_type": "client_credential", "appid": APPID, "secret": "nope"})
    entry = client.get("/_emulator/requests", params={"api": "wechat"}).json()[-1]
    assert (entry["code"], entry["tenant"]) == (40001, APPID)
    assert "secret" in entry["reason"]
    assert SECRET not in entry["expected"] and SECRET[:4] in entry["expected"]
    assert SECRET not in str(entry)


def test_journal_names_the_app_only_once_it_is_known(client, token):
    client.delete("/_emulator/requests")
    client.get("/cgi-bin/token", params={"grant_type": "client_credential", "appid": "wxnobody", "secret": "x"})
    tcb(client, "uploadfile", VALID_BODY["uploadfile"], "forged-token")
    tcb(client, "uploadfile", VALID_BODY["uploadfile"], token)
    entries = client.get("/_emulator/requests", params={"api": "wechat"}).json()
    assert [(e["path"], e["code"], e["tenant"]) for e in entries] == [
        ("/cgi-bin/token", 40013, None),
        ("/tcb/uploadfile", 40014, None),
        ("/tcb/uploadfile", None, APPID),
    ]
    assert "never issued" in entries[1]["reason"] and "/cgi-bin/token" in entries[1]["expected"]
    assert "forged-token" not in str(entries[1])


# -- checks common to the tcb calls, in the real service's order ------------------------
@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("params", [{}, {"access_token": ""}])
def test_missing_token_is_41001(client, emu, name, params):
    before = state(client, emu)
    r = client.post(f"/tcb/{name}", params=params, json=VALID_BODY[name])
    assert errcode(r) == 41001
    assert errcode(client.get(f"/tcb/{name}", params=params)) == 41001  # the token is checked before the method
    assert state(client, emu) == before


@pytest.mark.parametrize("name", ENDPOINTS)
def test_invalid_token_is_40014(client, emu, name):
    before = state(client, emu)
    assert errcode(tcb(client, name, VALID_BODY[name], "not-a-token")) == 40014
    assert errcode(tcb(client, name, None, "not-a-token", method="GET")) == 40014
    assert state(client, emu) == before


@pytest.mark.parametrize("name", ENDPOINTS)
def test_expired_token_is_42001(client, emu, frozen, name):
    token = get_token(client)
    client.post("/_emulator/clock", json={"advance": 7200})
    before = state(client, emu)
    assert errcode(tcb(client, name, VALID_BODY[name], token)) == 42001
    assert state(client, emu) == before


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_43002(client, emu, token, name, method):
    before = state(client, emu)
    assert errcode(tcb(client, name, VALID_BODY[name] if method != "GET" else None, token, method=method)) == 43002
    assert state(client, emu) == before


@pytest.mark.parametrize("name", ENDPOINTS)
def test_head_and_options_are_43002_not_a_405(client, emu, token, name):
    before = state(client, emu)
    assert errcode(tcb(client, name, None, token, method="OPTIONS")) == 43002
    client.delete("/_emulator/requests")
    r = tcb(client, name, None, token, method="HEAD")
    assert r.status_code == 200
    assert [e["code"] for e in client.get("/_emulator/requests", params={"api": "wechat"}).json()] == [43002]
    assert state(client, emu) == before


def test_token_by_options_is_43001(client, emu):
    params = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    assert errcode(client.options("/cgi-bin/token", params=params)) == 43001
    assert count(emu, WeChatToken) == 0


@pytest.mark.parametrize("name", ENDPOINTS)
def test_empty_body_is_44002(client, emu, token, name):
    before = state(client, emu)
    assert errcode(tcb(client, name, None, token, content=b"")) == 44002
    assert state(client, emu) == before


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("content", [b"{", b"env=test", b"[]", b"null", b'"text"', b"\xff\xfe{}", b'{"a": NaN}'])
def test_malformed_json_is_47001(client, emu, token, name, content):
    before = state(client, emu)
    assert errcode(tcb(client, name, None, token, content=content)) == 47001
    assert state(client, emu) == before


MISSING = [
    ("uploadfile", {"path": "a.txt"}),
    ("uploadfile", {"env": ENV}),
    ("uploadfile", {"env": "", "path": "a.txt"}),
    ("uploadfile", {"env": ENV, "path": None}),
    ("batchdownloadfile", {"file_list": [{"fileid": "cloud://x.y/z", "max_age": 60}]}),
    ("batchdownloadfile", {"env": ENV}),
    ("batchdownloadfile", {"env": ENV, "file_list": [{"max_age": 60}]}),
    ("batchdownloadfile", {"env": ENV, "file_list": [{"fileid": "cloud://x.y/z"}]}),
    ("batchdeletefile", {"fileid_list": ["cloud://x.y/z"]}),
    ("batchdeletefile", {"env": ENV}),
]


@pytest.mark.parametrize(("name", "body"), MISSING)
def test_missing_required_field_is_40101(client, emu, token, name, body):
    before = state(client, emu)
    assert errcode(tcb(client, name, body, token)) == 40101
    assert state(client, emu) == before


def test_missing_fields_are_reported_before_wrong_ones(client, token):
    assert errcode(tcb(client, "uploadfile", {"env": 5}, token)) == 40101


WRONG = [
    ("uploadfile", {"env": 1, "path": "a.txt"}),
    ("uploadfile", {"env": ENV, "path": ["a.txt"]}),
    ("batchdownloadfile", {"env": ENV, "file_list": "cloud://x.y/z"}),
    ("batchdownloadfile", {"env": ENV, "file_list": []}),
    ("batchdownloadfile", {"env": ENV, "file_list": ["cloud://x.y/z"]}),
    ("batchdownloadfile", {"env": ENV, "file_list": [{"fileid": 1, "max_age": 60}]}),
    ("batchdownloadfile", {"env": ENV, "file_list": [{"fileid": "cloud://x.y/z", "max_age": "60"}]}),
    ("batchdownloadfile", {"env": ENV, "file_list": [{"fileid": "cloud://x.y/z", "max_age": 60.5}]}),
    ("batchdownloadfile", {"env": ENV, "file_list": [{"fileid": "cloud://x.y/z", "max_age": True}]}),
    ("batchdownloadfile", {"env": ENV, "file_list": [{"fileid": "cloud://x.y/z", "max_age": 0}]}),
    ("batchdownloadfile", {"env": ENV, "file_list": [{"fileid": "cloud://x.y/z", "max_age": 86401}]}),
    ("batchdownloadfile", {"env": ENV, "file_list": [{"fileid": f"cloud://x.y/{i}", "max_age": 1} for i in range(51)]}),
    ("batchdeletefile", {"env": ENV, "fileid_list": "cloud://x.y/z"}),
    ("batchdeletefile", {"env": ENV, "fileid_list": []}),
    ("batchdeletefile", {"env": ENV, "fileid_list": [1]}),
    ("batchdeletefile", {"env": ENV, "fileid_list": [f"cloud://x.y/{i}" for i in range(51)]}),
]


@pytest.mark.parametrize(("name", "body"), WRONG)
def test_wrong_type_or_value_is_40097(client, emu, token, name, body):
    before = state(client, emu)
    assert errcode(tcb(client, name, body, token)) == 40097
    assert state(client, emu) == before


def test_fifty_items_and_a_day_are_accepted(client, token):
    body = {"env": ENV, "file_list": [{"fileid": f"cloud://{ENV}.b/{i}", "max_age": 86400} for i in range(50)]}
    assert len(tcb(client, "batchdownloadfile", body, token).json()["file_list"]) == 50
    body = {"env": ENV, "fileid_list": [f"cloud://{ENV}.b/{i}" for i in range(50)]}
    assert len(tcb(client, "batchdeletefile", body, token).json()["delete_list"]) == 50


@pytest.mark.parametrize("name", ENDPOINTS)
def test_unknown_env_is_501000(client, emu, token, name):
    before = state(client, emu)
    body = {**VALID_BODY[name], "env": "no-such-env"}
    assert errcode(tcb(client, name, body, token)) == -501000
    assert state(client, emu) == before


@pytest.mark.parametrize("name", ENDPOINTS)
def test_app_without_cloud_development_is_85088(client, emu, name):
    client.post("/_emulator/fixtures", json={"wechat": [{"appid": "wxnocloud0000000001", "secret": "s3cret-value"}]})
    token = get_token(client, "wxnocloud0000000001", "s3cret-value")
    before = state(client, emu)
    assert errcode(tcb(client, name, VALID_BODY[name], token)) == 85088
    assert state(client, emu) == before


def test_any_content_type_is_read_as_json(client, token):
    r = client.post("/tcb/uploadfile", params={"access_token": token}, content=b'{"env": "test-1a2b3c", "path": "x"}',
                    headers={"content-type": "text/plain"})
    assert r.json()["errcode"] == 0


def test_body_over_a_mebibyte_is_47001(client, emu, token):
    before = state(client, emu)
    body = b'{"env": "test-1a2b3c", "path": "' + b"x" * (1024 * 1024) + b'"}'
    assert errcode(tcb(client, "uploadfile", None, token, content=body)) == 47001
    assert state(client, emu) == before


@pytest.mark.parametrize(
    ("failure", "code"),
    [(RuntimeError("boom"), -1), (OperationalError("SELECT 1", {}, Exception("disk I/O error")), -1000)],
)
@pytest.mark.parametrize(("name", "method"), [("uploadfile", "upload_link"), ("batchdownloadfile", "download_links"),
                                              ("batchdeletefile", "delete_files")])
def test_system_errors_keep_the_envelope(client, emu, token, monkeypatch, failure, code, name, method):
    def boom(*args, **kwargs):
        raise failure

    monkeypatch.setattr(emu.service("wechat"), method, boom)
    assert errcode(tcb(client, name, VALID_BODY[name], token)) == code


# -- uploadfile -------------------------------------------------------------------------
def test_document_upload_example(client, frozen, doc_app):
    r = tcb(client, "uploadfile", DOC_UPLOAD, doc_app)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"errcode", "errmsg", "url", "token", "authorization", "file_id", "cos_file_id"}
    assert (body["errcode"], body["errmsg"]) == (0, "ok")
    bucket = bucket_of(DOC_APP["appid"], "test2-4a89da")
    assert re.fullmatch(r"7465-test2-4a89da-1\d{9}", bucket)
    assert body["file_id"] == f"cloud://test2-4a89da.{bucket}/this/is/a/example/file.path"
    assert body["url"] == f"http://testserver/_cos/{bucket}/this/is/a/example/file.path"
    assert re.fullmatch(
        r"q-sign-algorithm=sha1&q-ak=AKID[\w-]+&q-sign-time=1557307130;1557308030&q-key-time=1557307130;1557308030"
        r"&q-header-list=&q-url-param-list=&q-signature=[0-9a-f]{40}",
        body["authorization"],
    )
    assert re.fullmatch(r"[A-Za-z0-9+/]+=*", body["cos_file_id"])
    assert len(body["token"]) > 100


def test_upload_link_uses_the_public_url(tmp_path):
    from fastapi.testclient import TestClient

    from emulator.app import create_app
    from emulator.settings import Settings

    app = create_app(Settings(database_url="sqlite://", public_url="http://emulator:8080"))
    with TestClient(app) as c:
        url = tcb(c, "uploadfile", VALID_BODY["uploadfile"], get_token(c)).json()["url"]
    app.state.emulator.close()
    assert url.startswith("http://emulator:8080/_cos/")


@pytest.mark.parametrize("path", ["/a/b.txt", "a\nb", "x" * 851, "../../etc/passwd", "相册/../../x.txt",
                                  "a/./b.txt", "a/..", ".", "dir/../"])
def test_invalid_cloud_path_is_501007(client, emu, token, path):
    before = state(client, emu)
    r = tcb(client, "uploadfile", {"env": ENV, "path": path}, token)
    assert errcode(r) == -501007
    assert "cloud path is invalid" in r.json()["errmsg"]
    assert state(client, emu) == before


def test_form_post_with_the_documented_fields_stores_the_object(client, token):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "docs/readme.txt"}, token).json()
    content = b"hello cloud base\n" * 1000
    r = client.post(path_of(link["url"]), files=cos_form(link, "docs/readme.txt", content))
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["etag"] == f'"{hashlib.md5(content).hexdigest()}"'
    [entry] = stored(client)
    assert entry["file_id"] == link["file_id"]
    assert (entry["size"], entry["md5"]) == (len(content), hashlib.md5(content).hexdigest())


def test_fields_may_follow_the_file_as_wechatpy_sends_them(client, token):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "late.bin"}, token).json()
    r = client.post(path_of(link["url"]), files=cos_form(link, "late.bin", b"payload", file_first=True))
    assert r.status_code == 204, r.text
    assert stored(client)[0]["size"] == 7


@pytest.mark.parametrize("path", ["a.b/..c.txt", "...", ".hidden/x", "x/.."  + "y"])
def test_dots_inside_a_name_are_plain_characters(client, token, path):
    link = tcb(client, "uploadfile", {"env": ENV, "path": path}, token).json()
    assert link["errcode"] == 0, link
    assert client.post(path_of(link["url"]), files=cos_form(link, path, b"dots")).status_code == 204


def test_same_path_overwrites(client, emu, token):
    upload(client, token, "same.txt", b"first version")
    upload(client, token, "same.txt", b"second")
    [entry] = stored(client)
    assert entry["size"] == 6
    assert emu.blobs.stats() == {"blobs": 1, "bytes": 6}  # the first version's bytes are reclaimed


def test_one_upload_link_may_be_used_twice_within_its_life(client, token):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "twice.txt"}, token).json()
    assert client.post(path_of(link["url"]), files=cos_form(link, "twice.txt", b"1")).status_code == 204
    assert client.post(path_of(link["url"]), files=cos_form(link, "twice.txt", b"22")).status_code == 204
    assert stored(client)[0]["size"] == 2


def _bad_forms(link):
    return [
        ("SignatureDoesNotMatch", {"Signature": link["authorization"].replace("q-signature=", "q-signature=0")}),
        ("SignatureDoesNotMatch", {"Signature": None}),
        ("AccessDenied", {"x-cos-security-token": link["token"][:-4] + "AAAA"}),
        ("AccessDenied", {"x-cos-security-token": None}),
        ("AccessDenied", {"x-cos-meta-fileid": "SG9sYQ=="}),
        ("AccessDenied", {"x-cos-meta-fileid": None}),
        ("AccessDenied", {"key": "another/key.txt"}),
    ]


@pytest.mark.parametrize("case", range(7))
def test_wrong_credentials_are_403_and_store_nothing(client, emu, token, case):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "secret.txt"}, token).json()
    code, override = _bad_forms(link)[case]
    before = state(client, emu)
    r = client.post(path_of(link["url"]), files=cos_form(link, "secret.txt", b"x" * 3_000_000, override=override))
    assert cos_error(r) == (403, code)
    assert state(client, emu) == before


@pytest.fixture
def stage_calls(emu, monkeypatch):
    """How many times a file part started streaming into the content store."""
    calls = []
    real = emu.blobs.stage

    async def counting(*args, **kwargs):
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(emu.blobs, "stage", counting)
    return calls


@pytest.mark.parametrize("case", range(7))
def test_bad_credentials_before_the_file_are_refused_before_any_byte_is_written(client, emu, token, stage_calls, case):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "secret.txt"}, token).json()
    code, override = _bad_forms(link)[case]
    before = state(client, emu)
    r = client.post(path_of(link["url"]), files=cos_form(link, "secret.txt", b"x" * 3_000_000, override=override))
    assert cos_error(r) == (403, code)
    assert state(client, emu) == before
    # "file last" (the documented order): every credential that arrived before the file is
    # checked before the file is streamed anywhere. A field missing before the file may
    # still follow it, so that form is read to its end and refused then.
    assert len(stage_calls) == (1 if None in override.values() else 0)


def test_expired_credentials_before_the_file_are_refused_before_any_byte_is_written(client, emu, frozen, stage_calls):
    token = get_token(client)
    link = tcb(client, "uploadfile", {"env": ENV, "path": "late.txt"}, token).json()
    client.post("/_emulator/clock", json={"advance": 900})
    before = state(client, emu)
    r = client.post(path_of(link["url"]), files=cos_form(link, "late.txt", b"x" * 2_000_000))
    assert cos_error(r) == (403, "AccessDenied") and "expired" in r.text
    assert (stage_calls, state(client, emu)) == ([], before)


def test_credentials_are_still_checked_when_the_file_comes_first(client, emu, token, stage_calls):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "first.txt"}, token).json()
    before = state(client, emu)
    form = cos_form(link, "first.txt", b"x" * 2_000_000, file_first=True,
                    override={"Signature": "q-sign-algorithm=sha1"})
    assert cos_error(client.post(path_of(link["url"]), files=form)) == (403, "SignatureDoesNotMatch")
    assert (len(stage_calls), state(client, emu)) == (1, before)  # streamed, then dropped
    r = client.post(path_of(link["url"]), files=cos_form(link, "first.txt", b"ok"))
    assert r.status_code == 204 and len(stage_calls) == 2


def test_refused_signature_is_journaled_with_what_was_expected(client, token):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "j.txt"}, token).json()
    client.delete("/_emulator/requests")
    forged = cos_form(link, "j.txt", b"x", override={"Signature": "q-sign-algorithm=sha1&forged"})
    client.post(path_of(link["url"]), files=forged)
    entry = client.get("/_emulator/requests", params={"api": "wechat"}).json()[-1]
    assert (entry["status"], entry["code"], entry["tenant"]) == (403, "SignatureDoesNotMatch", APPID)
    assert "Signature" in entry["reason"]
    assert "j.txt" in entry["expected"]
    assert link["authorization"] not in entry["expected"]  # masked


def test_upload_credentials_expire_after_900_seconds(client, emu, frozen):
    token = get_token(client)
    link = tcb(client, "uploadfile", {"env": ENV, "path": "late.txt"}, token).json()
    client.post("/_emulator/clock", json={"advance": 899})
    assert client.post(path_of(link["url"]), files=cos_form(link, "late.txt", b"in time")).status_code == 204
    client.post("/_emulator/clock", json={"advance": 1})
    before = state(client, emu)
    r = client.post(path_of(link["url"]), files=cos_form(link, "late.txt", b"too late"))
    assert cos_error(r) == (403, "AccessDenied")
    assert "expired" in r.text
    assert state(client, emu) == before


def test_credentials_only_open_the_bucket_they_were_issued_for(client, emu, token):
    client.post("/_emulator/fixtures", json={"wechat": [{"appid": APPID, "secret": SECRET, "envs": [ENV, "prod-9z"]}]})
    link = tcb(client, "uploadfile", {"env": ENV, "path": "a.txt"}, token).json()
    other = bucket_of(APPID, "prod-9z")
    before = state(client, emu)
    r = client.post(f"/_cos/{other}/a.txt", files=cos_form(link, "a.txt", b"x"))
    assert cos_error(r) == (403, "AccessDenied")
    assert state(client, emu) == before


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (lambda link: cos_form(link, "m.txt", b"x")[:-1], (400, "InvalidArgument")),  # no file
        (lambda link: [(n, v) for n, v in cos_form(link, "m.txt", b"x") if n != "key"], (400, "InvalidArgument")),
        (lambda link: [*cos_form(link, "m.txt", b"x"), ("file", ("b", b"y"))], (400, "InvalidArgument")),
    ],
)
def test_incomplete_forms_are_400(client, emu, token, files, expected):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "m.txt"}, token).json()
    before = state(client, emu)
    assert cos_error(client.post(path_of(link["url"]), files=files(link))) == expected
    assert state(client, emu) == before


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"key=a", "application/x-www-form-urlencoded"),
        (b"--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nm.txt\r\n--B\r\nContent-Disp",
         "multipart/form-data; boundary=B"),
    ],
)
def test_malformed_form_is_400(client, emu, token, content, content_type):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "m.txt"}, token).json()
    before = state(client, emu)
    r = client.post(path_of(link["url"]), content=content, headers={"content-type": content_type})
    assert cos_error(r) == (400, "MalformedPOSTRequest")
    assert state(client, emu) == before


def test_unknown_bucket_is_404(client, emu, token):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "m.txt"}, token).json()
    before = state(client, emu)
    r = client.post("/_cos/7465-test-nope-1250000000/m.txt", files=cos_form(link, "m.txt", b"x"))
    assert cos_error(r) == (404, "NoSuchBucket")
    assert state(client, emu) == before


def test_unexpected_failure_of_the_form_post_is_xml_500_and_keeps_nothing(client, emu, token, monkeypatch):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "m.txt"}, token).json()
    before = state(client, emu)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(emu.service("wechat"), "store", boom)
    r = client.post(path_of(link["url"]), files=cos_form(link, "m.txt", b"x" * 2_000_000))
    assert cos_error(r) == (500, "InternalError")
    assert state(client, emu) == before


def test_object_takes_the_form_content_type(client, token):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "p.png"}, token).json()
    form = cos_form(link, "p.png", b"\x89PNG")
    client.post(path_of(link["url"]), files=[("Content-Type", (None, "image/png")), *form])
    url = links(client, token, [link["file_id"]])[0]["download_url"]
    assert client.get(path_of(url)).headers["content-type"] == "image/png"


@pytest.mark.parametrize("value", ["text/plain\r\nX-Injected: 1", "text/plain\x00", "image/\x7fpng"])
def test_content_type_with_control_characters_is_400_and_stores_nothing(client, emu, token, value):
    # served back as a header of the download links, where CR/LF would break every answer
    link = tcb(client, "uploadfile", {"env": ENV, "path": "ct.txt"}, token).json()
    before = state(client, emu)
    form = [("Content-Type", (None, value)), *cos_form(link, "ct.txt", b"x")]
    assert cos_error(client.post(path_of(link["url"]), files=form)) == (400, "InvalidArgument")
    assert state(client, emu) == before


# -- batchdownloadfile ------------------------------------------------------------------
def test_document_download_example_with_the_short_bucket_form(client, doc_app):
    upload(client, doc_app, "A.png", b"png bytes", env="test2-4a89da")
    r = tcb(client, "batchdownloadfile", DOC_DOWNLOAD, doc_app)
    body = r.json()
    assert (body["errcode"], body["errmsg"]) == (0, "ok")
    [entry] = body["file_list"]
    assert set(entry) == {"fileid", "download_url", "status", "errmsg"}
    assert (entry["fileid"], entry["status"], entry["errmsg"]) == (DOC_DOWNLOAD["file_list"][0]["fileid"], 0, "ok")
    assert client.get(path_of(entry["download_url"])).content == b"png bytes"


def test_missing_file_gets_its_own_status_and_the_others_are_unaffected(client, token):
    a = upload(client, token, "a.txt", b"A")["file_id"]
    b = upload(client, token, "b.txt", b"B")["file_id"]
    missing = f"cloud://{ENV}.{bucket_of(APPID, ENV)}/missing.txt"
    entries = links(client, token, [a, missing, "not a file id", b])
    assert [e["status"] for e in entries] == [0, -503003, -503003, 0]
    assert [e["errmsg"] for e in entries] == ["ok", "STORAGE_FILE_NONEXIST", "STORAGE_FILE_NONEXIST", "ok"]
    assert entries[1]["download_url"] == ""
    assert [e["fileid"] for e in entries] == [a, missing, "not a file id", b]
    assert client.get(path_of(entries[0]["download_url"])).content == b"A"
    assert client.get(path_of(entries[3]["download_url"])).content == b"B"


def test_download_link_is_refused_after_max_age(client, frozen):
    token = get_token(client)
    file_id = upload(client, token, "short.txt", b"short-lived")["file_id"]
    url = path_of(links(client, token, [file_id], max_age=60)[0]["download_url"])
    client.post("/_emulator/clock", json={"advance": 59})
    assert client.get(url).content == b"short-lived"
    client.post("/_emulator/clock", json={"advance": 1})
    r = client.get(url)
    assert cos_error(r) == (403, "AccessDenied")
    assert "expired" in r.text


def test_download_link_lives_exactly_max_age_when_issued_mid_second(client):
    client.post("/_emulator/clock", json={"freeze": True, "set": T0 + 0.5})
    token = get_token(client)
    file_id = upload(client, token, "mid.txt", b"mid-second")["file_id"]
    url = path_of(links(client, token, [file_id], max_age=60)[0]["download_url"])
    client.post("/_emulator/clock", json={"advance": 59.75})
    assert client.get(url).content == b"mid-second"
    client.post("/_emulator/clock", json={"advance": 0.25})
    r = client.get(url)
    assert cos_error(r) == (403, "AccessDenied") and "expired" in r.text


def test_link_time_is_whole_seconds_on_a_whole_second_clock(client, frozen):
    token = get_token(client)
    file_id = upload(client, token, "whole.txt", b"w")["file_id"]
    url = links(client, token, [file_id], max_age=7200)[0]["download_url"]
    assert re.search(r"[?&]t=(\d+)$", url).group(1) == str(int(T0) + 7200)


@pytest.mark.parametrize("t", ["9" * 5000, "\u0967\u0968", "1e12", "-5", "12.", "0x10"],
                         ids=["5000-digits", "devanagari-digits", "exponent", "negative", "bare-dot", "hex"])
def test_malformed_link_time_is_403_not_500(client, token, t):
    file_id = upload(client, token, "t.txt", b"t")["file_id"]
    url = path_of(links(client, token, [file_id])[0]["download_url"])
    tampered = re.sub(r"t=[0-9.]+", lambda _: "t=" + t, url)
    assert cos_error(client.get(tampered)) == (403, "AccessDenied")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda u: re.sub(r"sign=[0-9a-f]", "sign=z", u),
        lambda u: re.sub(r"t=(\d+)", lambda m: f"t={int(m.group(1)) + 3600}", u),
        lambda u: u.split("?")[0],
        lambda u: u.replace("/big.bin", "/other.bin"),
    ],
)
def test_tampered_download_links_are_403(client, token, tamper):
    file_id = upload(client, token, "big.bin", b"x")["file_id"]
    upload(client, token, "other.bin", b"y")
    url = path_of(links(client, token, [file_id])[0]["download_url"])
    assert cos_error(client.get(tamper(url))) == (403, "AccessDenied")


def test_download_streams_large_objects_and_ranges(client, token):
    content = bytes(range(256)) * 12_000  # ~3 MiB, several chunks
    file_id = upload(client, token, "big.bin", content)["file_id"]
    url = path_of(links(client, token, [file_id])[0]["download_url"])
    r = client.get(url)
    assert r.status_code == 200 and r.content == content
    assert r.headers["content-length"] == str(len(content))
    assert r.headers["etag"] == f'"{hashlib.md5(content).hexdigest()}"'
    r = client.get(url, headers={"Range": "bytes=1048570-1048580"})
    assert (r.status_code, r.content) == (206, content[1048570:1048581])
    assert r.headers["content-range"] == f"bytes 1048570-1048580/{len(content)}"
    assert client.get(url, headers={"Range": "bytes=-5"}).content == content[-5:]
    r = client.get(url, headers={"Range": f"bytes={len(content)}-"})
    assert cos_error(r) == (416, "InvalidRange")
    head = client.head(url)
    assert (head.status_code, head.headers["content-length"], head.content) == (200, str(len(content)), b"")


@pytest.mark.parametrize(("header", "expected"), [
    # As the same range with 20 digits: a number past the object is just past it (was a 500).
    ("bytes=0-" + "9" * 4301, 206),
    ("bytes=-" + "9" * 4301, 206),
    ("bytes=" + "9" * 4301 + "-", 416),
    ("bytes=" + "0" * 4400 + "2-" + "0" * 4400 + "4", "2-4"),  # leading zeros: the numbers 2 and 4
    # Latin-1 bytes the server reads as "²", "¹": digits to str.isdigit(), not to int(), and
    # to no HTTP range: malformed, so ignored (was a 500).
    (b"bytes=\xb2-", 200),
    (b"bytes=0-\xb9", 200),
    (b"bytes=-\xb9", 200),
])
def test_ranges_of_thousands_of_digits_or_other_digits_are_answered_like_any_range(app, client, emu, token, header,
                                                                                   expected):
    content = b"hello wechat"
    file_id = upload(client, token, "r.txt", content)["file_id"]
    url = path_of(links(client, token, [file_id])[0]["download_url"])
    before = state(client, emu)
    # Starlette's TestClient re-encodes header values as UTF-8; this transport sends the bytes as given.
    with httpx.Client(transport=SyncASGITransport(app), base_url=BASE_URL) as raw:
        r = raw.get(url, headers={"Range": header})
    if expected == 416:
        assert cos_error(r) == (416, "InvalidRange")
        assert r.headers["content-range"] == f"bytes */{len(content)}"
        assert len(r.text) < 1000  # the reason quotes the header cut short
    elif expected == 206:
        assert (r.status_code, r.content) == (206, content)
        assert r.headers["content-range"] == f"bytes 0-{len(content) - 1}/{len(content)}"
    elif expected == 200:
        assert (r.status_code, r.content) == (200, content)
        assert "content-range" not in r.headers
    else:
        assert (r.status_code, r.content) == (206, content[2:5])
    assert state(client, emu) == before


def test_link_to_a_deleted_file_is_404(client, token):
    file_id = upload(client, token, "gone.txt", b"bye")["file_id"]
    url = path_of(links(client, token, [file_id])[0]["download_url"])
    tcb(client, "batchdeletefile", {"env": ENV, "fileid_list": [file_id]}, token)
    assert cos_error(client.get(url)) == (404, "NoSuchKey")


def test_link_serves_what_is_stored_now(client, token):
    file_id = upload(client, token, "v.txt", b"v1")["file_id"]
    url = path_of(links(client, token, [file_id])[0]["download_url"])
    upload(client, token, "v.txt", b"v2")
    assert client.get(url).content == b"v2"


# -- wrong methods on the storage side ------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_another_method_on_the_cos_upload_url_is_cos_405_and_stores_nothing(client, emu, token, method):
    link = tcb(client, "uploadfile", {"env": ENV, "path": "m.txt"}, token).json()
    before = state(client, emu)
    client.delete("/_emulator/requests")
    r = client.request(method, path_of(link["url"]), content=b"key=m.txt&file=x")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    if method != "HEAD":
        assert cos_error(r) == (405, "MethodNotAllowed") and "detail" not in r.text
    assert state(client, emu) == before
    [entry] = client.get("/_emulator/requests").json()
    assert (entry["api"], entry["tenant"], entry["code"]) == ("wechat", APPID, "MethodNotAllowed")
    assert method in entry["reason"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_another_method_on_a_download_link_is_cos_405(client, emu, token, method):
    file_id = upload(client, token, "d.txt", b"keep")["file_id"]
    url = path_of(links(client, token, [file_id])[0]["download_url"])
    before = state(client, emu)
    r = client.request(method, url, content=b"x")
    assert cos_error(r) == (405, "MethodNotAllowed") and r.headers["allow"] == "GET, HEAD"
    assert state(client, emu) == before
    assert client.get(url).content == b"keep"


def test_a_wrong_method_is_405_before_the_bucket_is_looked_up(client):
    r = client.get("/_cos/no-such-bucket-123/a.txt")
    assert cos_error(r) == (405, "MethodNotAllowed")
    assert "<Resource>no-such-bucket-123/a.txt</Resource>" in r.text


# -- batchdeletefile --------------------------------------------------------------------
def test_document_delete_example(client, emu, doc_app):
    upload(client, doc_app, "A.png", b"png bytes", env="test2-4a89da")
    r = tcb(client, "batchdeletefile", DOC_DELETE, doc_app)
    assert r.json() == {
        "errcode": 0,
        "errmsg": "ok",
        "delete_list": [{"fileid": DOC_DELETE["fileid_list"][0], "status": 0, "errmsg": "ok"}],
    }
    assert stored(client) == []
    assert emu.blobs.stats() == {"blobs": 0, "bytes": 0}
    again = tcb(client, "batchdeletefile", DOC_DELETE, doc_app).json()["delete_list"][0]
    assert (again["status"], again["errmsg"]) == (-503003, "STORAGE_FILE_NONEXIST")


def test_delete_reports_each_file(client, token):
    a = upload(client, token, "a.txt", b"A")["file_id"]
    b = upload(client, token, "b.txt", b"B")["file_id"]
    missing = f"cloud://{ENV}.{bucket_of(APPID, ENV)}/nope.txt"
    out = tcb(client, "batchdeletefile", {"env": ENV, "fileid_list": [a, missing, b, a]}, token).json()["delete_list"]
    assert [(e["fileid"], e["status"]) for e in out] == [(a, 0), (missing, -503003), (b, 0), (a, -503003)]
    assert stored(client) == []


# -- round trip and tenancy -------------------------------------------------------------
def test_upload_download_delete_round_trip(client, emu, token):
    content = b"\x00\x01round trip\xff" * 5000
    file_id = upload(client, token, "trip/data.bin", content)["file_id"]
    [entry] = links(client, token, [file_id])
    assert client.get(path_of(entry["download_url"])).content == content
    out = tcb(client, "batchdeletefile", {"env": ENV, "fileid_list": [file_id]}, token).json()
    assert out["delete_list"][0]["status"] == 0
    assert links(client, token, [file_id])[0]["status"] == -503003
    assert emu.blobs.stats() == {"blobs": 0, "bytes": 0}


def test_apps_never_see_each_others_files(client, token):
    # The other app even names its environment alike: the buckets still differ.
    second = {"appid": "wxother000000000001", "secret": "other-secret", "envs": [ENV]}
    client.post("/_emulator/fixtures", json={"wechat": [second]})
    other = get_token(client, "wxother000000000001", "other-secret")
    file_id = upload(client, token, "mine.txt", b"mine")["file_id"]
    assert bucket_of(APPID, ENV) != bucket_of("wxother000000000001", ENV)
    assert links(client, other, [file_id])[0]["status"] == -503003
    out = tcb(client, "batchdeletefile", {"env": ENV, "fileid_list": [file_id]}, other).json()
    assert out["delete_list"][0]["status"] == -503003
    assert links(client, token, [file_id])[0]["status"] == 0
    # the other app's own upload of the same path is a separate object
    upload(client, other, "mine.txt", b"theirs")
    assert [f["size"] for f in stored(client, appid=APPID)] == [4]
    assert [f["size"] for f in stored(client, appid="wxother000000000001")] == [6]


def test_environments_of_one_app_are_separate(client, token):
    client.post("/_emulator/fixtures", json={"wechat": [{"appid": APPID, "secret": SECRET, "envs": [ENV, "prod-9z"]}]})
    file_id = upload(client, token, "x.txt", b"x")["file_id"]
    assert links(client, token, [file_id], env="prod-9z")[0]["status"] == -503003
    assert stored(client, env="prod-9z") == []
    assert len(stored(client, env=ENV)) == 1


def test_admin_lists_buckets_and_health_lists_the_api(client):
    buckets = client.get("/_emulator/wechat/buckets").json()
    assert {"appid": APPID, "env": ENV, "bucket": bucket_of(APPID, ENV)} in buckets
    health = client.get("/_emulator/health").json()
    assert "wechat" in health["apis"]
    assert health["endpoints"]["wechat"] == "http://testserver"


def test_reset_drops_files_and_grants(client, emu, token):
    upload(client, token, "r.txt", b"r")
    client.post("/_emulator/reset")
    assert stored(client) == []
    assert count(emu, WeChatUploadGrant) == 0
    assert emu.blobs.stats() == {"blobs": 0, "bytes": 0}
