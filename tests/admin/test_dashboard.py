"""GET /_emulator/ (the dashboard's files), GET /_emulator/objects (its object browser), the
journal's recorded bodies and the /requests filters it uses. The page itself is driven in a
real browser by test_dashboard_browser.py."""

from __future__ import annotations

import hashlib
import json

import pytest
from snapshot_kit import DEFAULT, Kit

from emulator.core.journal import BODY_HEAD, BodyTap, mask_body_text


def test_dashboard_page_and_assets_ship_in_the_package_and_load_only_from_its_origin(emulator):
    page = emulator.client.get("/_emulator/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    for asset, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        assert f'"{asset}"' in page.text
        r = emulator.client.get(f"/_emulator/{asset}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind) and len(r.content) > 1000
    # No external request: nothing in the page's files names another origin.
    for asset in ("", "dashboard.js", "dashboard.css"):
        text = emulator.client.get(f"/_emulator/{asset}").text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text


def test_dashboard_script_routes_every_admin_call_through_one_function(emulator):
    script = emulator.client.get("/_emulator/dashboard.js").text
    assert script.count("fetch(") == 1  # in admin(): JSON bodies, Content-Type, the bearer token, 401 -> ask
    assert '"Content-Type"] = "application/json"' in script and 'sessionStorage' in script


@pytest.fixture
def filled(emulator):
    kit = Kit(emulator.client)
    return kit, kit.fill("dash")


def test_objects_lists_each_api_uniformly_with_a_download_that_answers_the_bytes(emulator, filled):
    me = "-".join([DEFAULT["jpush"]["app_key"], DEFAULT["pan123"]["client_id"], DEFAULT["wechat"]["appid"],
                   DEFAULT["antelope"]["app_id"], "1001:1000"])
    expected = {  # what Kit.fill sent through each vendor API
        "jpush": [f"dash-{DEFAULT['jpush']['app_key'][:12]}\nalice\n".encode()],
        # 123pan: an image-hosting file, and a cloud-disk file the kit moved to the trash
        "pan123": [f"dash-{me}-picture".encode() * 10, f"dash-{me}-disk".encode()],
        "wechat": [f"dash-{me}-cloud".encode()],
        "antelope": [f"dash-{me}-clip".encode()], "nextjoy": [f"dash-{me}-qiniu".encode()],
    }
    for api in ("jpush", "pan123", "wechat", "antelope", "nextjoy"):
        doc = emulator.client.get("/_emulator/objects", params={"api": api}).json()
        files = [i for i in doc["items"] if i["kind"] == "file"]
        assert len(files) == len(expected[api]) and doc["offset"] == 0 and doc["api"] == api, doc
        assert doc["tenants"]
        got = []
        for item in files:
            assert set(item) == {"id", "kind", "tenant", "group", "name", "size", "md5", "hash", "created",
                                 "expires", "download", "details", "meta"}
            assert "dash" in item["name"]
            body = emulator.client.get(item["download"])
            assert body.status_code == 200 and len(body.content) == item["size"]
            assert hashlib.md5(body.content).hexdigest() == item["md5"]
            got.append(body.content)
        assert sorted(got) == sorted(expected[api])
    trashed = [i for i in emulator.client.get("/_emulator/objects", params={"api": "pan123"}).json()["items"]
               if "trash" in i["group"]]
    assert [i["name"].rsplit("/", 1)[-1] for i in trashed] == ["dash.txt"]
    assert emulator.client.get("/_emulator/objects", params={"api": "antelope", "view": "events"}).json()["total"] == 1


def test_objects_pages_filters_by_tenant_and_name_and_refuses_bad_queries(emulator):
    kit = Kit(emulator.client)
    for i in range(7):
        kit.jpush(f"line{i}\n".encode(), f"file-{i}.txt")
    first = emulator.client.get("/_emulator/objects", params={"api": "jpush", "limit": 3}).json()
    second = emulator.client.get("/_emulator/objects", params={"api": "jpush", "limit": 3, "offset": 3}).json()
    last = emulator.client.get("/_emulator/objects", params={"api": "jpush", "limit": 3, "offset": 6}).json()
    assert first["total"] == second["total"] == last["total"] == 7
    names = [i["name"] for page in (first, second, last) for i in page["items"]]
    assert sorted(names) == [f"file-{i}.txt" for i in range(7)] and len(last["items"]) == 1
    found = emulator.client.get("/_emulator/objects", params={"api": "jpush", "q": "FILE-4"}).json()
    assert [i["name"] for i in found["items"]] == ["file-4.txt"]
    other = emulator.client.get("/_emulator/objects", params={"api": "jpush", "tenant": "nobody"}).json()
    assert other["total"] == 0
    mine = emulator.client.get("/_emulator/objects",
                               params={"api": "jpush", "tenant": DEFAULT["jpush"]["app_key"]}).json()
    assert mine["total"] == 7
    for bad in ({"api": "nope"}, {"api": "jpush", "limit": 0}, {"api": "jpush", "offset": -1},
                {"api": "jpush", "view": "events"}):
        r = emulator.client.get("/_emulator/objects", params=bad)
        assert r.status_code == 400 and "error" in r.json()


def test_pan123_folders_show_with_their_path_and_no_download(emulator, filled):
    doc = emulator.client.get("/_emulator/objects", params={"api": "pan123"}).json()
    assert all(i["name"].startswith("/") for i in doc["items"])
    assert all((i["download"] is None) == (i["kind"] == "folder") for i in doc["items"])


def test_jpush_file_content_is_the_uploaded_bytes(emulator):
    file_id = Kit(emulator.client).jpush(b"a\r\nb\n\nc", "x.txt")
    r = emulator.client.get(f"/_emulator/jpush/files/{file_id}/content")
    assert r.status_code == 200 and r.content == b"a\r\nb\n\nc"
    assert emulator.client.get("/_emulator/jpush/files/nope/content").status_code == 404


def test_journal_keeps_bodies_masked_and_uploads_as_size_and_md5(emulator):
    kit = Kit(emulator.client)
    kit.wechat_token()
    (token_call,) = emulator.client.get("/_emulator/requests", params={"path": "/cgi-bin/token"}).json()
    answer = token_call["response_body"]
    assert answer["content_type"].startswith("application/json") and not answer["truncated"]
    assert '"access_token"' in answer["text"] and json.loads(answer["text"])["access_token"].endswith("***")
    assert token_call["request_body"] is None
    data = b"\x00\x01binary" * 1000
    kit.antelope(data, "clip.bin")
    (upload,) = emulator.client.get("/_emulator/requests", params={"path": "/upload2"}).json()
    sent = upload["request_body"]
    assert sent["content_type"].startswith("multipart/form-data") and "text" not in sent
    assert sent["size"] > len(data)  # the whole multipart body
    assert sent["stored"] == [{"size": len(data), "md5": hashlib.md5(data).hexdigest()}]  # the file in it
    kit.nextjoy_call("get")
    (form,) = emulator.client.get("/_emulator/requests", params={"path": "/upload_token/get"}).json()
    text = form["request_body"]["text"]
    assert "appid=1001" in text and "sign=" in text and DEFAULT["nextjoy"]["app_secret"] not in text
    sign = dict(p.split("=") for p in text.split("&"))["sign"]
    assert sign.endswith("***")


def test_journal_body_tap_keeps_the_first_4_kib_of_text_and_only_counts_uploads():
    text = BodyTap("application/json")
    for _ in range(3):
        text.feed(b'{"a": "' + b"x" * 2000 + b'"}')
    rendered = text.render()
    assert rendered["size"] == 3 * 2009 and rendered["truncated"] and len(rendered["text"]) == BODY_HEAD
    upload = BodyTap("application/octet-stream")
    for i in range(5):
        upload.feed(bytes([i]) * 10000)
    assert upload.render() == {"size": 50000, "content_type": "application/octet-stream"}
    assert BodyTap("").render() is None
    assert mask_body_text('{"x": {"clientSecret": "abcdefghijkl"}, "n": "v"}', "application/json") == \
        '{"x": {"clientSecret": "abcd***"}, "n": "v"}'
    assert mask_body_text("<Signature>abcdefghijkl</Signature><Key>k</Key>", "application/xml") == \
        "<Signature>abcd***</Signature><Key>k</Key>"


def test_requests_filters_code_refused_and_since(emulator):
    emulator.client.get("/v3/files", headers={"Authorization": emulator.jpush_auth()})
    emulator.client.get("/v3/files", headers={"Authorization": "Basic bm9wZTpub3Bl"})
    everything = emulator.client.get("/_emulator/requests").json()
    assert len(everything) == 2
    refused = emulator.client.get("/_emulator/requests", params={"refused": "true"}).json()
    assert len(refused) == 1 and refused[0]["reason"] and refused[0]["status"] >= 400
    code = str(refused[0]["code"])
    assert [e["id"] for e in emulator.client.get("/_emulator/requests", params={"code": code}).json()] == \
        [refused[0]["id"]]
    assert [e["id"] for e in emulator.client.get("/_emulator/requests", params={"refused": "false"}).json()] == \
        [everything[0]["id"]]
    since = emulator.client.get("/_emulator/requests", params={"since": everything[0]["id"]}).json()
    assert [e["id"] for e in since] == [everything[1]["id"]]
    assert emulator.client.get("/_emulator/requests", params={"since": everything[1]["id"]}).json() == []


def test_dashboard_files_ship_as_package_data():
    import tomllib

    from helpers import REPO

    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "static/*" in data["emulator.admin"]
    shipped = {p.name for p in (REPO / "emulator" / "admin" / "static").iterdir()}
    assert shipped == {"dashboard.html", "dashboard.js", "dashboard.css"}
