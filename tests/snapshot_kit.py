"""Shared by the snapshot and scoped-state tests: tenants of every API, objects made through
each API's own vendor endpoints (over any httpx-style client: a TestClient or a client of a
live server), and everything a client could observe of them, per tenant."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from emulator.apis import ALL_APIS

T0 = 1_700_000_000.0  # the emulator clock is frozen here in these tests

DEFAULT = {
    "jpush": {"app_key": "testjpushappkey000000001", "master_secret": "testjpushmastersecret001"},
    "pan123": {"client_id": "test-pan123-client", "client_secret": "test-pan123-secret", "uid": 1815309870},
    "wechat": {"appid": "wxtest0000000000001", "secret": "test-wechat-secret-00000000000001",
               "envs": ["test-1a2b3c"]},
    "antelope": {"app_id": "Test", "app_key": "test-antelope-app-key", "area_id": 1},
    "nextjoy": {"appid": 1001, "child_id": 1000, "app_secret": "test-nextjoy-app-secret", "bucket": "game-hddzz",
                "qiniu_access_key": "test-qiniu-access-key", "qiniu_secret_key": "test-qiniu-secret-key"},
}

SECOND = {
    "jpush": {"app_key": "second-jpush-app", "master_secret": "second-jpush-secret"},
    "pan123": {"client_id": "second-pan123-client", "client_secret": "second-pan123-secret", "uid": 2000000002},
    "wechat": {"appid": "wxsecond000000000002", "secret": "second-wechat-secret", "envs": ["second-9z8y7x"]},
    "antelope": {"app_id": "Second", "app_key": "second-antelope-key", "area_id": 2},
    "nextjoy": {"appid": 1001, "child_id": 2002, "app_secret": "second-nextjoy-secret", "bucket": "game-second",
                "qiniu_access_key": "second-qiniu-ak", "qiniu_secret_key": "second-qiniu-sk"},
}

APIS = tuple(DEFAULT)
MODELS = {spec.name: spec.tenant_model for spec in ALL_APIS}


def identity(api: str, tenant: dict[str, Any]) -> str:
    """The tenant record's identity, as its API's tenant model tells it."""
    return MODELS[api].model_validate(tenant).identity()


def scope_of(tenants: dict[str, dict[str, Any]], apis=APIS) -> dict[str, list[str]]:
    return {api: [identity(api, tenants[api])] for api in apis}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def ok(response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None


class Kit:
    """One tenant of each API (``tenants``) driven through the vendor endpoints."""

    def __init__(self, http, tenants: dict[str, dict[str, Any]] = DEFAULT) -> None:
        self.http = http
        self.t = tenants

    # -- making objects ----------------------------------------------------------------
    def jpush(self, content: bytes, name: str = "ids.txt") -> str:
        t = self.t["jpush"]
        r = self.http.post("/v3/files/alias", files={"filename": (name, content, "text/plain")},
                           auth=(t["app_key"], t["master_secret"]))
        return ok(r)["file_id"]

    def pan123_token(self) -> str:
        """Minted through the admin API: /api/v1/access_token has a QPS limit, and the
        clock is frozen here."""
        r = self.http.post("/_emulator/pan123/tokens", json={"client_id": self.t["pan123"]["client_id"]})
        return ok(r)["accessToken"]

    def pan123_call(self, path: str, body: dict[str, Any], token: str | None = None, method: str = "POST") -> Any:
        headers = {"Platform": "open_platform", "Authorization": f"Bearer {token or self.pan123_token()}"}
        if method == "GET":
            r = self.http.get(path, headers=headers, params=body)
        else:
            r = self.http.post(path, headers=headers, json=body)
        doc = ok(r)
        assert doc["code"] == 0, doc
        return doc["data"]

    def pan123_create(self, data: bytes, name: str, token: str) -> dict[str, Any]:
        return self.pan123_call("/upload/v1/oss/file/create", {
            "parentFileID": "", "filename": name, "etag": hashlib.md5(data).hexdigest(), "size": len(data), "type": 1,
        }, token)

    def pan123_url(self, pre: str, n: int, token: str) -> str:
        return self.pan123_call("/upload/v1/oss/file/get_upload_url", {"preuploadID": pre, "sliceNo": n},
                                token)["presignedURL"]

    def pan123(self, data: bytes, name: str = "pic.jpg") -> str:
        token = self.pan123_token()
        created = self.pan123_create(data, name, token)
        if created["reuse"]:
            return created["fileID"]
        pre = created["preuploadID"]
        size = created["sliceSize"]
        for n in range(max(1, -(-len(data) // size))):
            r = self.http.put(path_of(self.pan123_url(pre, n + 1, token)), content=data[n * size:(n + 1) * size])
            assert r.status_code == 200, r.text
        done = self.pan123_call("/upload/v1/oss/file/upload_complete", {"preuploadID": pre}, token)
        for _ in range(10):
            if done["completed"]:
                return done["fileID"]
            done = self.pan123_call("/upload/v1/oss/file/upload_async_result", {"preuploadID": pre}, token)
        raise AssertionError("upload never completed")

    def pan123_disk(self, data: bytes, name: str) -> int:
        """A cloud-disk file (upload v2 single/create, no QPS limit) put in the recycle bin."""
        token = self.pan123_token()
        headers = {"Platform": "open_platform", "Authorization": f"Bearer {token}"}
        form = {"parentFileID": "0", "filename": name, "etag": hashlib.md5(data).hexdigest(), "size": str(len(data))}
        doc = ok(self.http.post("/upload/v2/file/single/create", headers=headers, data=form,
                                files={"file": (name, data, "application/octet-stream")}))
        assert doc["code"] == 0, doc
        self.pan123_call("/api/v1/file/trash", {"fileIDs": [doc["data"]["fileID"]]}, token)
        return doc["data"]["fileID"]

    def pan123_list(self) -> list[dict[str, Any]]:
        """The vendor listing of the image-hosting root, newest first, every page."""
        token = self.pan123_token()
        out, last = [], ""
        while last != "-1":
            page = self.pan123_call("/api/v1/oss/file/list", {"parentFileId": "", "limit": 100, "lastFileId": last,
                                                              "type": 1}, token)
            out += [{k: f[k] for k in ("fileId", "filename", "etag", "size", "createAt")} for f in page["fileList"]]
            last = page["lastFileId"]
        return out

    def wechat_token(self) -> str:
        t = self.t["wechat"]
        r = self.http.get("/cgi-bin/token", params={"grant_type": "client_credential", "appid": t["appid"],
                                                    "secret": t["secret"]})
        return ok(r)["access_token"]

    def wechat(self, data: bytes, path: str = "a/b.bin") -> str:
        env = self.t["wechat"]["envs"][0]
        link = ok(self.http.post("/tcb/uploadfile", params={"access_token": self.wechat_token()},
                                 json={"env": env, "path": path}))
        assert link["errcode"] == 0, link
        form = {"key": path, "Signature": link["authorization"], "x-cos-security-token": link["token"],
                "x-cos-meta-fileid": link["cos_file_id"]}
        r = self.http.post(path_of(link["url"]), data=form, files={"file": ("upload.bin", data,
                                                                           "application/octet-stream")})
        assert r.status_code == 204, r.text
        return link["file_id"]

    def antelope_token(self, cid: int = 7) -> str:
        return ok(self.http.post("/_emulator/antelope/tokens", json={"app_id": self.t["antelope"]["app_id"],
                                                                    "cid": cid, "ttl": 86400}))["access_token"]

    def antelope(self, data: bytes, name: str = "clip.bin") -> str:
        r = self.http.post("/upload2", params={"size": len(data), "access_token": self.antelope_token()},
                           files={"file": (name, data, "application/octet-stream")})
        return ok(r)["obj_id"]

    def antelope_event(self, subject: str) -> None:
        import json

        r = self.http.post("/upload3", params={"access_token": self.antelope_token()},
                           files={"message": (None, json.dumps({"channel_id": 0, "subject": subject, "body": {},
                                                                "attachments": []}))})
        ok(r)

    def nextjoy_params(self, **extra: Any) -> dict[str, str]:
        t = self.t["nextjoy"]
        now = int(self.http.get("/_emulator/clock").json()["now"])
        p = {k: str(v) for k, v in {"appid": t["appid"], "child_id": t["child_id"], "timestamp": now, **extra}.items()}
        text = "".join(f"{k}|{p[k]}#" for k in sorted(p)) + t["app_secret"]
        p["sign"] = hashlib.md5(text.encode()).hexdigest().upper()
        return p

    def nextjoy_call(self, name: str, **extra: Any) -> Any:
        body = ok(self.http.post(f"/upload_token/{name}", data=self.nextjoy_params(**extra)))
        assert body["status"] == 200, body
        return body.get("data")

    def nextjoy(self, key: str, data: bytes) -> str:
        token = self.nextjoy_call("get")["upload_token"]
        r = self.http.post("/_qiniu/up", data={"token": token, "key": key},
                           files={"file": ("f", data, "application/octet-stream")})
        return ok(r)["key"]

    def nextjoy_refresh(self, url: str) -> None:
        self.nextjoy_call("batch_refresh_file", urls=url)

    # -- one of everything ---------------------------------------------------------------
    def fill(self, tag: str, apis=APIS) -> dict[str, Any]:
        """One object per API (bytes unique to ``tag`` and this tenant), plus an Antelope
        event and a NextJoy refresh; answers the ids."""
        me = "-".join(identity(api, self.t[api]) for api in apis)
        made: dict[str, Any] = {}
        if "jpush" in apis:
            who = identity("jpush", self.t["jpush"])[:12]
            made["jpush"] = self.jpush(f"{tag}-{who}\nalice\n".encode(), f"{tag}.txt")
        if "pan123" in apis:
            made["pan123"] = self.pan123(f"{tag}-{me}-picture".encode() * 10, f"{tag}.jpg")
            made["pan123_disk"] = self.pan123_disk(f"{tag}-{me}-disk".encode(), f"{tag}.txt")
        if "wechat" in apis:
            made["wechat"] = self.wechat(f"{tag}-{me}-cloud".encode(), f"dir/{tag}.bin")
        if "antelope" in apis:
            made["antelope"] = self.antelope(f"{tag}-{me}-clip".encode(), f"{tag}.bin")
            self.antelope_event(tag)
        if "nextjoy" in apis:
            made["nextjoy"] = self.nextjoy(f"{tag}.png", f"{tag}-{me}-qiniu".encode())
            self.nextjoy_refresh(f"https://cdn.example.com/{tag}.png")
        return made

    # -- what a client can observe -------------------------------------------------------------
    def evidence(self, apis=APIS) -> dict[str, Any]:
        """Every object, session, event and refresh of these tenants with its bytes."""
        h = self.http
        out: dict[str, Any] = {}
        if "jpush" in apis:
            t = self.t["jpush"]
            files = ok(h.get("/v3/files", auth=(t["app_key"], t["master_secret"])))["files"]
            out["jpush"] = [(f, ok(h.get(f"/_emulator/jpush/files/{f['file_id']}"))) for f in files]
        if "pan123" in apis:
            cid = self.t["pan123"]["client_id"]
            files = [{k: v for k, v in f.items() if k != "blob_ids"}
                     for f in ok(h.get("/_emulator/pan123/files", params={"client_id": cid}))]
            contents = {f["id"]: h.get(f"/_emulator/pan123/files/{f['id']}/content").content
                        for f in files if not f["is_dir"]}
            uploads = [u for u in ok(h.get("/_emulator/pan123/uploads")) if u["client_id"] == cid]
            disk = ok(h.get("/_emulator/pan123/disk", params={"client_id": cid}))
            out["pan123"] = (files, contents, uploads, self.pan123_list(), disk)
        if "wechat" in apis:
            files = ok(h.get("/_emulator/wechat/files", params={"appid": self.t["wechat"]["appid"]}))
            out["wechat"] = [(f, h.get("/_emulator/wechat/content", params={"file_id": f["file_id"]}).content)
                             for f in files]
        if "antelope" in apis:
            app = self.t["antelope"]["app_id"]
            objects = ok(h.get("/_emulator/antelope/objects", params={"app_id": app}))
            token = self.antelope_token()
            out["antelope"] = (
                [(o, h.get("/files", params={"obj_id": o["obj_id"], "access_token": token}).content) for o in objects],
                ok(h.get("/_emulator/antelope/events", params={"app_id": app})),
            )
        if "nextjoy" in apis:
            t = self.t["nextjoy"]
            objects = ok(h.get("/_emulator/nextjoy/objects", params={"bucket": t["bucket"]}))
            out["nextjoy"] = (
                [(o, h.get(f"/_emulator/nextjoy/objects/{o['bucket']}/{o['key']}").content) for o in objects],
                ok(h.get("/_emulator/nextjoy/refreshes", params={"tenant": identity("nextjoy", t)})),
                [i["key"] for i in self.nextjoy_call("get_file_list", marker="", prefix="")["data"]],
            )
        return out


def add_tenants(http, tenants: dict[str, dict[str, Any]] = SECOND) -> None:
    ok(http.post("/_emulator/fixtures", json={api: [t] for api, t in tenants.items()}))


def assert_refcounts_exact(emu) -> None:
    """Every ready blob is referenced exactly refcount times, and none is unreferenced."""
    from emulator.core.blobs import Blob
    from emulator.core.ownership import blob_columns

    with emu.db.session() as s:
        counts: dict[int, int] = {}
        for column in blob_columns():
            for blob_id, n in s.execute(select(column, func.count()).group_by(column)).all():
                counts[blob_id] = counts.get(blob_id, 0) + n
        ready = dict(s.execute(select(Blob.id, Blob.refcount).where(Blob.state == "ready")).all())
    assert ready == counts, (ready, counts)
