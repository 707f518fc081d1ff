"""Fault injection in process (core/faults.py): schedules, matching, every action on every
API family, the journal's record of the rule that fired, and that a faulted request
changes nothing. Admin API shapes and validation: tests/admin/test_fault_rules.py; drops
and cuts on a real socket: tests/test_faults_live.py."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from antelope_kit import APP_ID, APP_KEY, Antelope, make_token
from fault_kit import (
    ANTELOPE_APP,
    JPUSH_KEY,
    NJ_TENANT,
    PAN_ID,
    PLATFORM,
    WX_APPID,
    WX_ENV,
    Kit,
    jpush_auth,
    local,
)
from sqlalchemy import func, select

from emulator.apis import ALL_APIS
from emulator.core.blobs import Blob, BlobChunk
from emulator.core.faults import ConnectionDropped, FaultRuleError, Faults

APIS = {spec.name: spec for spec in ALL_APIS}
DATA = bytes(range(256)) * 1200  # 300 KiB


@pytest.fixture
def kit(client) -> Kit:
    return Kit(client)


def blob_rows(emu) -> tuple[int, int]:
    """Every blob row, staged (pending) ones too, and every chunk row."""
    with emu.db.session() as s:
        return (s.execute(select(func.count()).select_from(Blob)).scalar_one(),
                s.execute(select(func.count()).select_from(BlobChunk)).scalar_one())


def jpush_status(kit: Kit) -> int:
    return kit.jpush_list().status_code


# -- the rule store ------------------------------------------------------------------------------


def test_a_stored_rule_has_defaults_and_counters():
    faults = Faults(APIS)
    [rule] = faults.add({"api": "jpush", "status": 503})
    assert rule == {
        "id": 1, "api": "jpush", "method": None, "path": "*", "tenant": None, "skip": 0, "times": None,
        "action": "status", "status": 503, "matched": 0, "fired": 0, "active": True,
    }
    [again] = faults.add({"method": "put", "path": "/_pan123/*", "latency_ms": 5, "times": None})
    assert again["id"] == 2 and again["method"] == "PUT" and again["times"] is None
    assert again["action"] == "latency" and again["latency_ms"] == 5


def test_a_bad_rule_in_a_list_stores_none_of_it():
    faults = Faults(APIS)
    with pytest.raises(FaultRuleError, match=r"rule 2: .*status and drop"):
        faults.add([{"status": 500}, {"status": 500, "drop": True}])
    assert faults.listing() == []


def test_error_tables_are_reachable_from_each_api_spec():
    assert APIS["pan123"].errors[0].table.by_code(429).http_status == 200
    assert APIS["pan123"].errors[1].table.by_code("AccessDenied").http_status == 403
    assert APIS["jpush"].errors[0].table.by_code("1100").http_status == 500
    assert APIS["wechat"].errors[0].table.by_code(-1).message == "system error"
    assert APIS["nextjoy"].errors[0].table.by_code(18005).message == "获取uploadToken失败"
    assert APIS["antelope"].errors[0].table.by_code(404).http_status == 404
    assert APIS["jpush"].errors[0].table.by_code(9999) is None


def test_scoped_clear_removes_only_the_rules_of_those_tenants():
    faults = Faults(APIS)
    faults.add([
        {"api": "jpush", "tenant": "mine", "status": 500},
        {"api": "jpush", "tenant": "theirs", "status": 500},
        {"tenant": "mine", "status": 500},  # any API: "mine" is in the scope under some API
        {"api": "pan123", "tenant": "mine", "status": 500},  # pan123's "mine" is not in the scope
        {"api": "jpush", "status": 500},  # bound to no tenant: nobody's to clear
    ])
    assert faults.clear({"jpush": ["mine"]}) == 2
    assert [(r["api"], r["tenant"]) for r in faults.listing()] == [
        ("jpush", "theirs"), ("pan123", "mine"), ("jpush", None)]
    assert faults.clear() == 3 and faults.listing() == []


# -- schedules ------------------------------------------------------------------------------------


def test_fail_the_third_call_only(kit):
    rule = kit.fault(api="jpush", skip=2, times=1, status=503)
    assert [jpush_status(kit) for _ in range(5)] == [200, 200, 503, 200, 200]
    got = kit.rule(rule["id"])
    assert (got["matched"], got["fired"], got["active"]) == (5, 1, False)


def test_times_n_then_the_rule_is_exhausted_but_listed(kit):
    kit.fault(api="jpush", times=2, status=502)
    assert [jpush_status(kit) for _ in range(4)] == [502, 502, 200, 200]
    [listed] = kit.http.get("/_emulator/faults").json()
    assert (listed["matched"], listed["fired"], listed["active"]) == (4, 2, False)


def test_times_null_fires_until_the_rule_is_removed(kit):
    rule = kit.fault(api="jpush", times=None, status=500)
    assert [jpush_status(kit) for _ in range(4)] == [500] * 4
    assert kit.rule(rule["id"])["active"] is True
    assert kit.http.delete(f"/_emulator/faults/{rule['id']}").status_code == 200
    assert jpush_status(kit) == 200


def test_skip_with_times_null_fires_from_then_on(kit):
    kit.fault(api="jpush", skip=1, times=None, status=500)
    assert [jpush_status(kit) for _ in range(4)] == [200, 500, 500, 500]


# -- matching -------------------------------------------------------------------------------------


def test_api_match(kit):
    rule = kit.fault(api="pan123", times=None, status=500)
    assert jpush_status(kit) == 200
    assert kit.pan_token_call().status_code == 500
    assert kit.rule(rule["id"])["matched"] == 1


def test_method_match_is_case_insensitive(kit):
    kit.fault(api="jpush", method="post", times=None, status=500)
    assert jpush_status(kit) == 200
    assert kit.jpush_upload().status_code == 500


def test_path_glob_match(kit):
    kit.fault(path="/v3/files/*", times=None, status=500)
    assert jpush_status(kit) == 200  # /v3/files itself is not under /v3/files/
    assert kit.jpush_upload().status_code == 500
    assert kit.http.get("/v3/files/nosuchfile", headers={"Authorization": jpush_auth()}).status_code == 500


def test_tenant_match_fires_only_for_that_tenant(kit, client):
    r = client.post("/_emulator/fixtures", json={"jpush": [{"app_key": "otherapp", "master_secret": "othersecret"}]})
    assert r.status_code == 200
    rule = kit.fault(tenant="otherapp", times=None, status=500)
    assert jpush_status(kit) == 200
    assert client.get("/v3/files", auth=("otherapp", "othersecret")).status_code == 500
    assert kit.rule(rule["id"])["matched"] == 1  # the default tenant's call was never counted


def test_tenant_rules_see_only_identified_requests(kit, client):
    rule = kit.fault(api="jpush", tenant=JPUSH_KEY, times=None, status=500)
    r = client.get("/v3/files", auth=(JPUSH_KEY, "wrong-secret"))
    assert r.status_code == 400 and r.json()["error"]["code"] == 1101  # refused before it is identified
    assert kit.rule(rule["id"])["matched"] == 0


@pytest.mark.parametrize("api,tenant,call", [
    ("pan123", PAN_ID, lambda k: k.pan_token_call()),
    ("wechat", WX_APPID, lambda k: k.http.get("/cgi-bin/token", params={
        "grant_type": "client_credential", "appid": WX_APPID, "secret": "x"})),
    ("nextjoy", NJ_TENANT, lambda k: k.nj_call("get")),
    ("antelope", ANTELOPE_APP, lambda k: k.http.get("/v2/events", params={"channel_id": 0, "size": 10},
                                                    headers={"X-APP-ID": APP_ID, "X-APP-Key": APP_KEY})),
    ("jpush", JPUSH_KEY, lambda k: k.jpush_list()),
])
def test_tenant_identities_are_those_of_the_fixture_format(kit, api, tenant, call):
    rule = kit.fault(api=api, tenant=tenant, status=418)
    assert call(kit).status_code == 418
    assert kit.rule(rule["id"])["fired"] == 1
    [entry] = kit.journal(api=api)
    assert entry["tenant"] == tenant and entry["fault"] == {"id": rule["id"], "action": "status", "status": 418}


def test_requests_no_vendor_route_takes_are_never_faulted(kit, client):
    rule = kit.fault(times=None, status=500)
    assert client.get("/no/such/path").status_code == 404
    assert client.post("/v4/nothing", content=b"x").status_code == 404
    assert kit.rule(rule["id"])["matched"] == 0
    assert all("fault" not in e for e in kit.journal())


def test_first_firing_action_decides_and_later_rules_do_not_see_the_request(kit):
    slow = kit.fault(api="jpush", latency_ms=1, times=None)
    first = kit.fault(api="jpush", status=503)
    second = kit.fault(api="jpush", status=504)
    assert jpush_status(kit) == 503
    assert (kit.rule(second["id"])["matched"], kit.rule(second["id"])["fired"]) == (0, 0)
    assert jpush_status(kit) == 504
    assert jpush_status(kit) == 200
    assert kit.rule(first["id"])["matched"] == 3 and kit.rule(slow["id"])["fired"] == 3
    fired = [e["fault"] for e in kit.journal(api="jpush")]
    assert fired[0] == {"id": first["id"], "action": "status", "status": 503, "latency_ms": 1.0,
                        "rules": [slow["id"], first["id"]]}
    assert fired[2] == {"id": slow["id"], "action": "latency", "latency_ms": 1.0}


# -- actions: status ------------------------------------------------------------------------------


def test_status_answers_a_short_json_body_by_default(kit):
    kit.fault(api="jpush", status=503)
    r = kit.jpush_list()
    assert r.status_code == 503 and r.json() == {"error": "injected fault"}
    assert r.headers["content-type"] == "application/json"


def test_status_with_a_body(kit):
    kit.fault(api="jpush", status=502, body="<html>bad gateway</html>")
    kit.fault(api="jpush", status=500, body='{"oops": 1}')
    kit.fault(api="jpush", status=204)
    r = kit.jpush_list()
    assert (r.status_code, r.text, r.headers["content-type"]) == (502, "<html>bad gateway</html>",
                                                                  "text/plain; charset=utf-8")
    r = kit.jpush_list()
    assert (r.status_code, r.json(), r.headers["content-type"]) == (500, {"oops": 1}, "application/json")
    r = kit.jpush_list()
    assert (r.status_code, r.content) == (204, b"")


def test_status_above_599_as_qiniu_answers(kit):
    token = kit.nj_token()
    kit.fault(api="nextjoy", path="/_qiniu/*", status=631)
    r = kit.qiniu_upload(token, "k", b"data")
    assert r.status_code == 631
    assert kit.http.get("/_emulator/nextjoy/objects").json() == []


def test_status_once_the_tenant_is_known(kit):
    kit.fault(tenant=JPUSH_KEY, status=429)
    r = kit.jpush_upload()
    assert r.status_code == 429
    assert kit.evidence()["jpush"] == []


# -- actions: business errors in each API's own envelope -----------------------------------------


def expect_status(api: str, code) -> int:
    for family in APIS[api].errors:
        row = family.table.by_code(code)
        if row is not None:
            return row.http_status
    raise AssertionError(code)


def test_pan123_429_in_the_123pan_envelope(kit):
    kit.fault(api="pan123", error=429)
    r = kit.pan_token_call()
    assert r.status_code == expect_status("pan123", 429) == 200
    body = r.json()
    assert set(body) == {"code", "message", "data", "x-traceID"}
    assert (body["code"], body["message"], body["data"]) == (429, "请求太频繁", None)
    assert body["x-traceID"].endswith("_kong-db-emulator")  # minted as for any 123pan answer


def test_jpush_1100_in_the_jpush_envelope(kit):
    kit.fault(api="jpush", error=1100)
    r = kit.jpush_list()
    assert r.status_code == expect_status("jpush", 1100) == 500
    assert r.json() == {"error": {"code": 1100, "message": "系统内部错误"}}


def test_wechat_minus_1_in_the_wechat_envelope(kit):
    kit.fault(api="wechat", error=-1)
    r = kit.http.post("/tcb/uploadfile", params={"access_token": "x"}, json={"env": "e", "path": "p"})
    assert r.status_code == expect_status("wechat", -1) == 200
    assert r.json() == {"errcode": -1, "errmsg": "system error"}


def test_nextjoy_18005_in_the_nextjoy_envelope(kit):
    kit.fault(api="nextjoy", error=18005)
    r = kit.nj_call("get")
    assert r.status_code == expect_status("nextjoy", 18005) == 200
    assert r.json() == {"status": 18005, "message": "获取uploadToken失败", "data": {}}


def test_antelope_error_in_the_antelope_envelope(kit):
    kit.fault(api="antelope", error=500)
    r = kit.http.get("/v2/events", params={"channel_id": 0, "size": 10},
                     headers={"X-APP-ID": APP_ID, "X-APP-Key": APP_KEY})
    assert r.status_code == expect_status("antelope", 500) == 500
    assert r.json() == {"code": 500, "message": "系统内部错误"}


def test_the_journal_carries_the_business_code_and_the_rule(kit):
    rule = kit.fault(api="jpush", error=1100)
    kit.jpush_list()
    [entry] = kit.journal(api="jpush")
    assert entry["status"] == 500 and entry["code"] == 1100
    assert entry["fault"] == {"id": rule["id"], "action": "error", "code": 1100}
    assert entry["reason"] == f"injected by fault rule {rule['id']}"


def test_message_overrides_the_table_text(kit):
    kit.fault(api="nextjoy", error=18005, message="storage is down")
    kit.fault(api="jpush", error=1100, message="维护中")
    assert kit.nj_call("get").json()["message"] == "storage is down"
    assert kit.jpush_list().json() == {"error": {"code": 1100, "message": "维护中"}}


def test_side_channel_errors_answer_in_the_side_channels_envelope(kit):
    url = kit.pan_presigned(DATA)
    kit.fault(api="pan123", method="PUT", error="AccessDenied")
    r = kit.http.put(local(url), content=DATA)
    assert r.status_code == 403 and r.headers["content-type"] == "application/xml"
    assert "<Code>AccessDenied</Code>" in r.text and "<RequestId>" in r.text

    link = kit.wx_link("dir/a.bin")
    kit.fault(api="wechat", path="/_cos/*", error="AccessDenied", message="Access Denied.")
    r = kit.cos_post(link, "dir/a.bin", DATA)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text

    token = kit.nj_token()
    kit.fault(api="nextjoy", path="/_qiniu/up", error=614)
    r = kit.qiniu_upload(token, "k", DATA)
    assert (r.status_code, r.json()) == (614, {"error": "file exists"})
    assert r.headers["x-reqid"]  # the Qiniu host's request id, on every answer

    ev = kit.evidence()
    assert ev["wechat"] == ev["nextjoy"] == [] and ev["store"]["blobs"] == 0
    assert ev["pan123_uploads"][0]["parts"] == []


def test_an_error_of_the_api_table_on_a_side_channel_uses_that_tables_envelope(kit):
    url = kit.pan_presigned(DATA)
    kit.fault(api="pan123", path="/_pan123/*", error=429)
    r = kit.http.put(local(url), content=DATA)
    assert r.status_code == 200 and r.json()["code"] == 429


def test_an_error_once_the_tenant_is_known(kit):
    link = kit.wx_link("late/a.bin")
    kit.fault(api="wechat", tenant=WX_APPID, path="/_cos/*", error="AccessDenied")
    r = kit.cos_post(link, "late/a.bin", DATA)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    assert kit.evidence()["wechat"] == []


def test_downloads_are_faulted_too(kit, client):
    link = kit.wx_link("dl/a.bin")
    assert kit.cos_post(link, "dl/a.bin", DATA).status_code == 204
    token = kit.wx_token()
    [entry] = client.post("/tcb/batchdownloadfile", params={"access_token": token},
                          json={"env": WX_ENV, "file_list": [{"fileid": link["file_id"], "max_age": 600}]},
                          ).json()["file_list"]
    kit.fault(api="wechat", method="GET", path="/_tcb/*", status=503)
    assert client.get(local(entry["download_url"])).status_code == 503
    assert client.get(local(entry["download_url"])).content == DATA

    ant = Antelope(client, make_token(expire=4102444800))
    obj = ant.ok(ant.upload2(b"antelope bytes", key="/dl/b.txt"))
    kit.fault(api="antelope", path="/files", drop=True)
    with pytest.raises(httpx.TransportError):
        ant.get("/files", obj_id=obj["obj_id"])
    assert ant.get("/files", obj_id=obj["obj_id"]).content == b"antelope bytes"


# -- actions: latency ---------------------------------------------------------------------------


def test_latency_alone_slows_the_answer_down(kit):
    kit.fault(api="jpush", latency_ms=300)
    started = time.perf_counter()
    r = kit.jpush_list()
    assert r.status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_latencies_add_up_then_the_action(kit):
    kit.fault(api="jpush", latency_ms=150)
    kit.fault(tenant=JPUSH_KEY, latency_ms=150, status=503)
    started = time.perf_counter()
    assert jpush_status(kit) == 503
    assert time.perf_counter() - started >= 0.3
    [entry] = kit.journal(api="jpush")
    assert entry["fault"]["latency_ms"] == 300.0 and entry["fault"]["action"] == "status"


# -- actions: drop and cut, in process -------------------------------------------------------------


def test_a_drop_in_process_raises_a_transport_error(kit):
    rule = kit.fault(api="jpush", drop=True)
    with pytest.raises(httpx.TransportError) as caught:
        kit.jpush_upload()
    assert isinstance(caught.value, ConnectionDropped)
    assert isinstance(caught.value, httpx.RemoteProtocolError)
    [entry] = kit.journal(api="jpush")
    assert entry["status"] is None and entry["fault"] == {"id": rule["id"], "action": "drop"}
    assert kit.evidence()["jpush"] == []
    assert kit.jpush_upload().status_code == 200  # once: the next call goes through


def test_a_drop_once_the_tenant_is_known_stores_nothing(kit, emu):
    kit.fault(tenant=JPUSH_KEY, method="POST", drop=True)
    with pytest.raises(httpx.TransportError):
        kit.jpush_upload(b"alice\n" * 10000)
    assert kit.evidence()["jpush"] == [] and blob_rows(emu) == (0, 0)


def test_a_drop_through_httpx_asgi_transport(app):
    app.state.emulator.faults.add({"api": "jpush", "drop": True})

    async def call() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as c:
            await c.get("/v3/files", headers={"Authorization": jpush_auth()})

    with pytest.raises(httpx.TransportError):
        asyncio.run(call())


def cut_cases(kit: Kit):
    """(what, the upload call): the three upload side channels."""
    url = kit.pan_presigned(DATA)
    link = kit.wx_link("cut/a.bin")
    token = kit.nj_token()
    return {
        "pan123": lambda: kit.http.put(local(url), content=DATA),
        "wechat": lambda: kit.cos_post(link, "cut/a.bin", DATA),
        "nextjoy": lambda: kit.qiniu_upload(token, "cut-key", DATA),
    }


@pytest.mark.parametrize("api,path,tenant", [
    ("pan123", "/_pan123/s3/*", PAN_ID),
    ("wechat", "/_cos/*", WX_APPID),
    ("nextjoy", "/_qiniu/up", NJ_TENANT),
])
@pytest.mark.parametrize("bound", ["on arrival", "once the tenant is known"])
@pytest.mark.parametrize("cut_after", [0, 70000, 10**9])
def test_a_cut_upload_leaves_nothing_behind(kit, emu, api, path, tenant, bound, cut_after):
    upload = cut_cases(kit)[api]
    before = kit.evidence()
    rule = dict(api=api, path=path, cut_after=cut_after)
    if bound != "on arrival":
        rule["tenant"] = tenant
    made = kit.fault(**rule)
    with pytest.raises(httpx.TransportError):
        upload()
    assert kit.evidence() == before
    assert blob_rows(emu) == (0, 0)  # no staged blob either
    [entry] = kit.journal(path=path)
    assert entry["status"] is None
    assert entry["fault"] == {"id": made["id"], "action": "cut", "cut_after": cut_after}
    # The upload session is intact: the same upload, unfaulted, goes through.
    assert upload().status_code in (200, 204)
    assert kit.evidence()["store"]["bytes"] == len(DATA)


def test_a_cut_on_a_request_without_a_body_drops_it(kit):
    kit.fault(api="jpush", cut_after=10)
    with pytest.raises(httpx.TransportError):
        kit.jpush_list()


# -- state stays consistent ------------------------------------------------------------------------


def test_a_faulted_call_changes_nothing(kit, client):
    token = kit.pan_token()
    before = kit.evidence()
    kit.fault(api="pan123", error=429, times=None)
    kit.fault(api="pan123", status=500)
    body = {"parentFileID": "", "filename": "a.jpg", "etag": "0" * 32, "size": 10, "type": 1}
    r = client.post("/upload/v1/oss/file/create", headers={**PLATFORM, "Authorization": f"Bearer {token}"}, json=body)
    assert r.json()["code"] == 429
    assert kit.evidence() == before


def test_reset_clears_every_rule(kit, client):
    kit.fault(api="jpush", times=None, status=500)
    assert jpush_status(kit) == 500
    assert client.post("/_emulator/reset").status_code == 200
    assert client.get("/_emulator/faults").json() == []
    assert jpush_status(kit) == 200


def test_no_rule_no_fault_key_in_the_journal(kit):
    kit.jpush_list()
    [entry] = kit.journal(api="jpush")
    assert "fault" not in entry
