"""Clients for the fault-injection tests (tests/core/test_faults.py, tests/admin/test_fault_rules.py,
tests/test_faults_live.py): the calls each API's side channels need, over any httpx client
(Starlette's TestClient in process, or an ``httpx.Client`` on a live server), and the
evidence a faulted request must leave unchanged."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

JPUSH_KEY, JPUSH_SECRET = "testjpushappkey000000001", "testjpushmastersecret001"
PAN_ID, PAN_SECRET = "test-pan123-client", "test-pan123-secret"
PLATFORM = {"Platform": "open_platform"}
WX_APPID, WX_SECRET, WX_ENV = "wxtest0000000000001", "test-wechat-secret-00000000000001", "test-1a2b3c"
NJ_APPID, NJ_CHILD, NJ_SECRET, NJ_BUCKET = 1001, 1000, "test-nextjoy-app-secret", "game-hddzz"
NJ_TENANT = f"{NJ_APPID}:{NJ_CHILD}"
ANTELOPE_APP = "Test"


def jpush_auth() -> str:
    return "Basic " + base64.b64encode(f"{JPUSH_KEY}:{JPUSH_SECRET}".encode()).decode()


def local(url: str) -> str:
    """A link handed out by the emulator, as a path (for a client bound to its base URL)."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


class Kit:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    # -- admin ---------------------------------------------------------------------------
    def fault(self, **rule: Any) -> dict[str, Any]:
        """Add a rule; these tests count firings, so a rule without ``times`` fires once here
        (the admin API's own default, every match until removed, is tested on its own)."""
        rule.setdefault("times", 1)
        r = self.http.post("/_emulator/faults", json=rule)
        assert r.status_code == 201, r.text
        return r.json()

    def rule(self, rule_id: int) -> dict[str, Any]:
        return self.http.get(f"/_emulator/faults/{rule_id}").json()

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        return self.http.get("/_emulator/requests", params=filters).json()

    # -- JPush -----------------------------------------------------------------------------
    def jpush_list(self) -> httpx.Response:
        return self.http.get("/v3/files", headers={"Authorization": jpush_auth()})

    def jpush_upload(self, data: bytes = b"alice\nbob\n") -> httpx.Response:
        return self.http.post("/v3/files/alias", headers={"Authorization": jpush_auth()},
                              files={"filename": ("aliases.txt", data, "text/plain")})

    # -- 123pan ----------------------------------------------------------------------------
    def pan_token_call(self) -> httpx.Response:
        return self.http.post("/api/v1/access_token", headers=PLATFORM,
                              json={"clientID": PAN_ID, "clientSecret": PAN_SECRET})

    def pan_token(self) -> str:
        body = self.pan_token_call().json()
        assert body["code"] == 0, body
        return body["data"]["accessToken"]

    def pan_call(self, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        r = self.http.post(path, headers={**PLATFORM, "Authorization": f"Bearer {token}"}, json=body)
        assert r.status_code == 200, r.text
        return r.json()

    def pan_presigned(self, data: bytes) -> str:
        """A presigned PUT URL for the one slice of a new image-hosting upload of ``data``."""
        token = self.pan_token()
        created = self.pan_call("/upload/v1/oss/file/create", {
            "parentFileID": "", "filename": "pic.jpg", "etag": hashlib.md5(data).hexdigest(),
            "size": len(data), "type": 1,
        }, token)
        assert created["code"] == 0 and not created["data"]["reuse"], created
        url = self.pan_call("/upload/v1/oss/file/get_upload_url",
                            {"preuploadID": created["data"]["preuploadID"], "sliceNo": 1}, token)
        assert url["code"] == 0, url
        return url["data"]["presignedURL"]

    # -- WeChat ----------------------------------------------------------------------------
    def wx_token(self) -> str:
        r = self.http.get("/cgi-bin/token", params={"grant_type": "client_credential", "appid": WX_APPID,
                                                    "secret": WX_SECRET})
        return r.json()["access_token"]

    def wx_link(self, path: str) -> dict[str, Any]:
        r = self.http.post("/tcb/uploadfile", params={"access_token": self.wx_token()},
                           json={"env": WX_ENV, "path": path})
        link = r.json()
        assert link["errcode"] == 0, link
        return link

    @staticmethod
    def cos_fields(link: dict[str, Any], path: str) -> dict[str, str]:
        return {"key": path, "Signature": link["authorization"], "x-cos-security-token": link["token"],
                "x-cos-meta-fileid": link["cos_file_id"]}

    def cos_post(self, link: dict[str, Any], path: str, data: bytes) -> httpx.Response:
        return self.http.post(local(link["url"]), data=self.cos_fields(link, path),
                              files={"file": ("upload.bin", data, "application/octet-stream")})

    # -- NextJoy / Qiniu -------------------------------------------------------------------
    def nj_params(self, **extra: Any) -> dict[str, str]:
        now = int(self.http.get("/_emulator/clock").json()["now"])
        p = {k: str(v) for k, v in {"appid": NJ_APPID, "child_id": NJ_CHILD, "timestamp": now, **extra}.items()}
        text = "".join(f"{k}|{p[k]}#" for k in sorted(p)) + NJ_SECRET
        p["sign"] = hashlib.md5(text.encode()).hexdigest().upper()
        return p

    def nj_call(self, name: str, **extra: Any) -> httpx.Response:
        return self.http.post(f"/upload_token/{name}", data=self.nj_params(**extra))

    def nj_token(self) -> str:
        body = self.nj_call("get").json()
        assert body["status"] == 200, body
        return body["data"]["upload_token"]

    def qiniu_upload(self, token: str, key: str, data: bytes) -> httpx.Response:
        return self.http.post("/_qiniu/up", data={"token": token, "key": key},
                              files={"file": ("f.bin", data, "application/octet-stream")})

    # -- evidence --------------------------------------------------------------------------
    def evidence(self) -> dict[str, Any]:
        """Every object any API keeps, upload sessions, and the content store."""
        get = lambda path: self.http.get(path).json()  # noqa: E731
        return {
            "store": get("/_emulator/store"),
            "jpush": get("/_emulator/jpush/files"),
            "pan123_files": get("/_emulator/pan123/files"),
            "pan123_uploads": get("/_emulator/pan123/uploads"),
            "wechat": get("/_emulator/wechat/files"),
            "nextjoy": get("/_emulator/nextjoy/objects"),
            "antelope": get("/_emulator/antelope/objects"),
        }


def blob_rows(db_file: Path) -> tuple[int, int]:
    """Blob rows (staged ones too) and chunk rows in a stopped server's database."""
    with sqlite3.connect(db_file) as db:
        return (db.execute("SELECT count(*) FROM blobs").fetchone()[0],
                db.execute("SELECT count(*) FROM blob_chunks").fetchone()[0])
