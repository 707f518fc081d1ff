"""Shared by the Antelope tests (imported as a module; conftest.py puts this folder on
sys.path). An Antelope client for the tests: mints access_tokens the way the README's supplementary
facts describe (computed here independently of the emulator's code), builds multipart
bodies in an exact wire order, and reads state for before/after comparisons."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from typing import Any

import httpx

APP_ID, APP_KEY, AREA_ID = "Test", "test-antelope-app-key", 1
# The document's token fields (1003775_3145728_1577429797_...) and its upload time.
DOC_CID, DOC_CONTROL, DOC_EXPIRE = 1003775, 3145728, 1577429797
DOC_TIME = 1495603539
BOUNDARY = "----WebKitFormBoundary7MA4YWxkTrZu0gW"

# The document's upload2 metadata form field, verbatim.
DOC_METADATA = """{
                "K1": "V1",
                "K2": 2,
                "K3": {
                    "K3_1": "K3_1",
                    "K3_2": 32
                 }
}"""

# The document's upload3 message form field (its postman body), verbatim.
DOC_MESSAGE = """{
      "channel_id":  0,
      "subject": "",
      "body": {},
      "attachments": [
       {
              "form_field": "first_object",
              "key": "/1/upload.txt",
              "area_id": 0,
              "metadata": {},
              "url": "",
              "file_name": "",
              "expiretype": 1
       },
       {
              "form_field": "second_object",
              "key": "",
              "area_id": 0,
              "metadata": {},
              "url": "",
              "file_name": "",
               "expiretype": 0
       }
      ]
  }"""


def make_token(key: str = APP_KEY, cid: int = DOC_CID, control: int = DOC_CONTROL, expire: int = DOC_EXPIRE) -> str:
    digest = hmac.new(key.encode(), struct.pack("<III", cid, control, expire), hashlib.md5).hexdigest()
    return f"{cid}_{control}_{expire}_{digest}"


Part = tuple  # (name, filename or None, bytes[, content-type])


def multipart(parts: list[Part], boundary: str = BOUNDARY) -> tuple[bytes, str]:
    """A multipart/form-data body with the parts in exactly this order."""
    out = bytearray()
    for part in parts:
        name, filename, data = part[0], part[1], part[2]
        ctype = part[3] if len(part) > 3 else None
        if isinstance(data, str):
            data = data.encode()
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
        if ctype is not None:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


class Antelope:
    def __init__(self, http: httpx.Client, token: str | None = None):
        self.http = http
        self.token = token or make_token()

    # -- calls -----------------------------------------------------------------------------
    def upload2(self, content: bytes = b"hello antelope", *, name: str | None = "guimain.exe",
                size: Any = "auto", token: Any = "default", expiretype: Any = None, key: Any = None,
                before: list[Part] = (), after: list[Part] = (), headers: dict[str, str] | None = None,
                params: dict[str, Any] | None = None) -> httpx.Response:
        q: dict[str, Any] = {}
        if size is not None:
            q["size"] = len(content) if size == "auto" else size
        if token is not None:
            q["access_token"] = self.token if token == "default" else token
        if expiretype is not None:
            q["expiretype"] = expiretype
        if key is not None:
            q["key"] = key
        q.update(params or {})
        body, ctype = multipart([*before, ("file", name, content), *after])
        return self.http.post("/upload2", params=q, content=body, headers={"content-type": ctype, **(headers or {})})

    def upload3(self, message: Any, files: list[Part] = (), *, token: Any = "default",
                before: list[Part] = ()) -> httpx.Response:
        text = message if isinstance(message, (str, bytes)) else json.dumps(message)
        body, ctype = multipart([*before, ("message", None, text), *files])
        params = {} if token is None else {"access_token": self.token if token == "default" else token}
        return self.http.post("/upload3", params=params, content=body, headers={"content-type": ctype})

    def events(self, channel_id: Any = 0, size: Any = 100, offset: Any = None, *,
               app: tuple[str, str] = (APP_ID, APP_KEY)) -> httpx.Response:
        params = {k: v for k, v in {"channel_id": channel_id, "size": size, "offset": offset}.items() if v is not None}
        return self.http.get("/v2/events", params=params, headers={"X-APP-ID": app[0], "X-APP-Key": app[1]})

    def get(self, path: str, token: Any = "default", **params: Any) -> httpx.Response:
        if token is not None:
            params["access_token"] = self.token if token == "default" else token
        return self.http.get(path, params=params)

    def ok(self, response: httpx.Response) -> Any:
        assert response.status_code == 200, response.text
        return response.json()

    # -- evidence --------------------------------------------------------------------------
    def objects(self) -> list[dict[str, Any]]:
        return self.http.get("/_emulator/antelope/objects").json()

    def all_events(self) -> list[dict[str, Any]]:
        return self.http.get("/_emulator/antelope/events").json()

    def now(self) -> float:
        return self.http.get("/_emulator/clock").json()["now"]

    def advance(self, seconds: float) -> None:
        self.http.post("/_emulator/clock", json={"advance": seconds})
