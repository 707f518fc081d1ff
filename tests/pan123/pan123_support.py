"""Helpers for the 123pan tests: a token, calls with the documented headers, whole uploads.
(Imported by this folder's conftest, which puts the folder on sys.path.)"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

CLIENT_ID = "test-pan123-client"
CLIENT_SECRET = "test-pan123-secret"
UID = 1815309870
PLATFORM = {"Platform": "open_platform"}
# 2025-03-03 16:38:26 in Beijing, the document's example createAt.
DOC_TIME = datetime(2025, 3, 3, 16, 38, 26, tzinfo=timezone(timedelta(hours=8))).timestamp()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Pan:
    def __init__(self, client) -> None:
        self.client = client
        self._token: str | None = None

    # -- plumbing ---------------------------------------------------------------------
    def tick(self, seconds: float = 1.0) -> None:
        self.client.post("/_emulator/clock", json={"advance": seconds})

    def config(self, **values: Any) -> dict[str, Any]:
        r = self.client.post("/_emulator/pan123/config", json=values)
        assert r.status_code == 200, r.text
        return r.json()

    def new_token(self, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> str:
        r = self.client.post("/api/v1/access_token", headers=PLATFORM,
                             json={"clientID": client_id, "clientSecret": secret})
        body = r.json()
        assert body["code"] == 0, body
        return body["data"]["accessToken"]

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = self.new_token()
        return self._token

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {**PLATFORM, "Authorization": f"Bearer {token or self.token}"}

    def call(self, path: str, body: Any = None, *, method: str = "POST", token: str | None = None,
             **kw: Any) -> dict[str, Any]:
        headers = {**self.headers(token), **kw.pop("headers", {})}
        if body is not None:
            kw["json"] = body
        r = self.client.request(method, path, headers=headers, **kw)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert set(doc) == {"code", "message", "data", "x-traceID"}, doc
        return doc

    def ok(self, path: str, body: Any = None, **kw: Any) -> Any:
        doc = self.call(path, body, **kw)
        assert doc["code"] == 0 and doc["message"] == "ok", doc
        return doc["data"]

    def err(self, path: str, body: Any = None, **kw: Any) -> tuple[int, str]:
        doc = self.call(path, body, **kw)
        assert doc["code"] != 0 and doc["data"] is None, doc
        return doc["code"], doc["message"]

    # -- flows --------------------------------------------------------------------------
    def mkdir(self, name: str, parent: str = "") -> str:
        return self.ok("/upload/v1/oss/file/mkdir", {"name": name, "parentID": parent, "type": 1})["list"][0]["dirID"]

    def create(self, data: bytes, filename: str = "a.jpg", parent: str = "", space: str = "oss") -> dict[str, Any]:
        if space == "oss":
            body = {"parentFileID": parent, "filename": filename, "etag": md5(data), "size": len(data), "type": 1}
            return self.ok("/upload/v1/oss/file/create", body)
        body = {"parentFileID": parent or 0, "filename": filename, "etag": md5(data), "size": len(data)}
        return self.ok("/upload/v1/file/create", body)

    def url(self, pre: str, n: int, space: str = "oss") -> str:
        prefix = "/upload/v1/oss/file" if space == "oss" else "/upload/v1/file"
        return self.ok(f"{prefix}/get_upload_url", {"preuploadID": pre, "sliceNo": n})["presignedURL"]

    def put_slices(self, pre: str, data: bytes, slice_size: int, space: str = "oss") -> None:
        for i in range(max(1, -(-len(data) // slice_size))):
            r = self.client.put(self.url(pre, i + 1, space), content=data[i * slice_size:(i + 1) * slice_size])
            assert r.status_code == 200 and r.content == b"", r.text

    def upload(self, data: bytes, filename: str = "a.jpg", parent: str = "", space: str = "oss") -> str | int:
        """The six steps; answers the file id (polls until completed)."""
        created = self.create(data, filename, parent, space)
        if created["reuse"]:
            return created["fileID"]
        pre = created["preuploadID"]
        self.put_slices(pre, data, created["sliceSize"], space)
        prefix = "/upload/v1/oss/file" if space == "oss" else "/upload/v1/file"
        done = self.ok(f"{prefix}/upload_complete", {"preuploadID": pre})
        for _ in range(20):
            if done["completed"]:
                return done["fileID"]
            self.tick(1)  # the client waits a second between polls, as the document asks
            done = self.ok(f"{prefix}/upload_async_result", {"preuploadID": pre})
        raise AssertionError("upload never completed")

    def detail(self, file_id: str) -> dict[str, Any]:
        return self.ok("/api/v1/oss/file/detail", method="GET", params={"fileID": file_id})

    def state(self) -> tuple:
        """Everything a refused request must leave unchanged."""
        files = self.client.get("/_emulator/pan123/files").json()
        uploads = self.client.get("/_emulator/pan123/uploads").json()
        return files, uploads, self.client.get("/_emulator/store").json()
