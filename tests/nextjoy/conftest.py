"""A NextJoy client for the tests: signs calls the way the README describes (computed
here independently of the emulator's code), reads the emulator's clock for timestamps,
and posts Qiniu form uploads."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

APPID, CHILD_ID = 1001, 1000
APP_SECRET = "test-nextjoy-app-secret"
BUCKET = "game-hddzz"
QINIU_AK, QINIU_SK = "test-qiniu-access-key", "test-qiniu-secret-key"


def sign_of(params: dict[str, Any], secret: str = APP_SECRET) -> str:
    text = "".join(f"{k}|{params[k]}#" for k in sorted(params) if k != "sign") + secret
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


class NextJoy:
    """Calls as a game client makes them, against an httpx client (TestClient or live)."""

    def __init__(self, http: httpx.Client, appid: int = APPID, child_id: int = CHILD_ID, secret: str = APP_SECRET):
        self.http = http
        self.appid, self.child_id, self.secret = appid, child_id, secret

    def now(self) -> int:
        return int(self.http.get("/_emulator/clock").json()["now"])

    def params(self, timestamp: int | None = None, **extra: Any) -> dict[str, str]:
        p = {"appid": self.appid, "child_id": self.child_id, "timestamp": timestamp or self.now(), **extra}
        p = {k: str(v) for k, v in p.items()}
        p["sign"] = sign_of(p, self.secret)
        return p

    def call(self, name: str, **extra: Any) -> dict[str, Any]:
        r = self.http.post(f"/upload_token/{name}", data=self.params(**extra))
        assert r.status_code == 200, r.text
        return r.json()

    def token(self) -> str:
        body = self.call("get")
        assert body["status"] == 200, body
        return body["data"]["upload_token"]

    def upload(
        self,
        token: str | None,
        key: str | None,
        data: bytes,
        *,
        content_type="application/octet-stream",
        filename="file_name",
        **fields: Any,
    ) -> httpx.Response:
        form = {k: str(v) for k, v in fields.items()}
        if token is not None:
            form["token"] = token
        if key is not None:
            form["key"] = key
        return self.http.post("/_qiniu/up", data=form, files={"file": (filename, data, content_type)})

    def put(self, key: str, data: bytes, **kw: Any) -> dict[str, Any]:
        r = self.upload(self.token(), key, data, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def listing(self, marker: str = "", prefix: str = "") -> dict[str, Any]:
        return self.call("get_file_list", marker=marker, prefix=prefix)

    def keys(self, prefix: str = "") -> list[str]:
        out, marker = [], ""
        while True:
            data = self.listing(marker, prefix)["data"]
            out += [item["key"] for item in data["data"]]
            marker = data["marker"]
            if not marker:
                return out


@pytest.fixture
def nextjoy_for():
    """Builds a NextJoy client over any httpx client (e.g. one on a live server)."""
    return NextJoy


@pytest.fixture
def nj(client) -> NextJoy:
    return NextJoy(client)


@pytest.fixture
def frozen(client) -> int:
    """The emulator clock frozen at the document's token time: its example deadline
    1525760483 is one hour after 1525756883."""
    client.post("/_emulator/clock", json={"freeze": True, "set": 1525756883})
    return 1525756883


@pytest.fixture
def other_tenant(client) -> NextJoy:
    """A second game with its own secret, Qiniu account and bucket."""
    r = client.post(
        "/_emulator/fixtures",
        json={
            "nextjoy": [
                {
                    "appid": 2002,
                    "child_id": 7,
                    "app_secret": "second-secret",
                    "bucket": "game-other",
                    "qiniu_access_key": "second-ak",
                    "qiniu_secret_key": "second-sk",
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    return NextJoy(client, 2002, 7, "second-secret")


@pytest.fixture
def live(live_server, nextjoy_for):
    """A NextJoy client of a live server, and the server's endpoints (the Qiniu hosts)."""
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        yield nextjoy_for(http), http.get("/_emulator/health").json()["endpoints"]


@pytest.fixture
def sdk_defaults():
    """qiniu.config.set_default changes process-wide defaults: put them back."""
    import copy

    import qiniu.config

    saved = copy.deepcopy(qiniu.config._config), copy.deepcopy(qiniu.config._is_customized_default)
    yield
    qiniu.config._config.clear()
    qiniu.config._config.update(saved[0])
    qiniu.config._is_customized_default.clear()
    qiniu.config._is_customized_default.update(saved[1])
