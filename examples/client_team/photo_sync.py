"""A small client library of the kind a team writes against these APIs (this is the code
under test in ``test_photo_sync.py``; the emulator stands in for the real services).

- ``Pan123Gallery`` uploads pictures to 123pan image hosting with the six-step flow,
  refreshes its access token when the platform says it expired, and retries slice PUTs
  and rate-limited calls.
- ``push_audience`` uploads a JPush alias file with ``requests``.
"""

from __future__ import annotations

import hashlib
import time

import httpx
import requests

PLATFORM = {"Platform": "open_platform"}


class Pan123Gallery:
    def __init__(self, http: httpx.Client, base_url: str, client_id: str, client_secret: str,
                 retries: int = 3, backoff: float = 0.0) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.retries, self.backoff = retries, backoff
        self.token: str | None = None

    def _login(self) -> None:
        r = self.http.post(f"{self.base}/api/v1/access_token", headers=PLATFORM,
                           json={"clientID": self.client_id, "clientSecret": self.client_secret})
        body = r.json()
        if body["code"] != 0:
            raise RuntimeError(f"login failed: {body}")
        self.token = body["data"]["accessToken"]

    def call(self, path: str, payload: dict) -> dict:
        """A platform call: logs in when needed, again once on 401, waits out 429s."""
        for attempt in range(self.retries + 1):
            if self.token is None:
                self._login()
            r = self.http.post(f"{self.base}{path}", json=payload,
                               headers={**PLATFORM, "Authorization": f"Bearer {self.token}"})
            body = r.json()
            if body["code"] == 401:
                self.token = None
                continue
            if body["code"] == 429 and attempt < self.retries:
                time.sleep(self.backoff)
                continue
            if body["code"] != 0:
                raise RuntimeError(f"{path}: {body['code']} {body['message']}")
            return body["data"]
        raise RuntimeError(f"{path}: gave up after {self.retries + 1} attempts")

    def _put(self, url: str, data: bytes) -> None:
        for _ in range(self.retries + 1):
            try:
                r = self.http.put(url, content=data)
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(self.backoff)
        raise RuntimeError(f"slice PUT failed {self.retries + 1} times")

    def upload(self, name: str, data: bytes, folder_id: str = "") -> str:
        """Uploads ``data`` and answers its fileID."""
        created = self.call("/upload/v1/oss/file/create", {
            "parentFileID": folder_id, "filename": name, "etag": hashlib.md5(data).hexdigest(),
            "size": len(data), "type": 1})
        if created.get("reuse"):
            return created["fileID"]
        pre, size = created["preuploadID"], created["sliceSize"]
        for n, start in enumerate(range(0, len(data), size), 1):
            url = self.call("/upload/v1/oss/file/get_upload_url", {"preuploadID": pre, "sliceNo": n})["presignedURL"]
            self._put(url, data[start:start + size])
        done = self.call("/upload/v1/oss/file/upload_complete", {"preuploadID": pre})
        while not done["completed"]:
            time.sleep(0.05)
            done = self.call("/upload/v1/oss/file/upload_async_result", {"preuploadID": pre})
        return done["fileID"]


def push_audience(base_url: str, app_key: str, master_secret: str, aliases: list[str], ttl_hours: int = 24) -> str:
    """Uploads an alias file to JPush; answers its file_id."""
    body = "\n".join(aliases).encode()
    r = requests.post(f"{base_url}/v3/files/alias", auth=(app_key, master_secret),
                      files={"filename": ("audience.txt", body, "text/plain")}, data={"ttl": str(ttl_hours)},
                      timeout=10)
    r.raise_for_status()
    return r.json()["file_id"]
