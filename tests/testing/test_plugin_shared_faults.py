"""Plugin helpers where several workers share one emulator (faults bound to the worker's own
tenants, evidence scoped to them), the 123pan config helper, credentials after a tenant is
replaced, and faults through the live ``emulator_server`` (drops and latency reach
``requests`` as on any server, with no log noise)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import helpers
import pytest
import requests

from emulator.testing import AdminError, LiveEmulator, SharedEmulator


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[LiveEmulator, SharedEmulator, SharedEmulator]]:
    with LiveEmulator() as server:
        a, b = SharedEmulator(server.url, "gw0"), SharedEmulator(server.url, "gw1")
        try:
            yield server, a, b
        finally:
            a.close()
            b.close()


@pytest.fixture
def workers(shared):
    server, a, b = shared
    server.reset()
    return server, a, b


def pan123_file(emu, data: bytes) -> tuple[str, str]:
    """A one-slice 123pan upload by the handle's tenant, the slice PUT by ``requests``:
    (fileID, download URL)."""

    def put(url: str, body: bytes) -> None:
        assert requests.put(url, data=body, timeout=30).status_code == 200

    return helpers.pan123_file(emu, data, put=put)


# -- faults on a shared emulator ---------------------------------------------------------------------


def test_a_rule_without_api_is_refused_on_a_shared_emulator(workers):
    server, a, _ = workers
    with pytest.raises(ValueError, match="needs api"):
        a.faults.add(path="/v3/files", status=503, times=None)
    assert server.faults.list() == []
    # an explicit tenant is the worker's own choice
    rule = a.faults.add(tenant=a.credentials.jpush.app_key, status=503)
    assert rule["tenant"] == a.credentials.jpush.app_key and rule["api"] is None


def test_tenant_none_is_bound_to_the_worker_too(workers):
    _, a, b = workers
    rule = a.faults.add(api="jpush", tenant=None, status=503, times=None)
    assert rule["tenant"] == a.credentials.jpush.app_key
    r = b.client.get("/v3/files", headers={"Authorization": b.jpush_auth()})
    assert r.status_code == 200


def test_each_worker_lists_and_clears_only_its_own_rules(workers):
    server, a, b = workers
    mine = a.faults.add(api="jpush", status=503)
    theirs = b.faults.add(api="jpush", status=503)
    assert [r["id"] for r in a.faults.list()] == [mine["id"]]
    assert [r["id"] for r in b.faults.list()] == [theirs["id"]]
    a.faults.clear()
    assert [r["id"] for r in server.faults.list()] == [theirs["id"]]


def test_a_workers_rule_fires_on_its_own_123pan_download_links(workers):
    """123pan download links name their tenant, so a (bound) rule on them fires."""
    _, a, b = workers
    _, url_a = pan123_file(a, b"worker a bytes")
    _, url_b = pan123_file(b, b"worker b bytes")
    rule = a.faults.add(api="pan123", method="GET", path="/_pan123/*", status=503, times=1)
    assert requests.get(url_b, timeout=30).content == b"worker b bytes"  # not b's link
    assert requests.get(url_a, timeout=30).status_code == 503
    assert requests.get(url_a, timeout=30).content == b"worker a bytes"
    [faulted] = [e for e in a.requests(path="/_pan123/vip/*") if "fault" in e]
    assert faulted["fault"]["id"] == rule["id"] and faulted["tenant"] == a.credentials.pan123.client_id


# -- evidence on a shared emulator ---------------------------------------------------------------------


def test_evidence_helpers_see_only_the_workers_own(workers):
    server, a, b = workers
    file_a, _ = pan123_file(a, b"from a")
    file_b, _ = pan123_file(b, b"from b")
    files = lambda h, **kw: [f["id"] for f in h.objects("pan123", **kw) if not f["is_dir"]]  # noqa: E731
    assert files(a) == [file_a]
    assert files(b) == [file_b]
    assert set(files(server)) == {file_a, file_b}
    assert files(server, tenant=b.credentials.pan123.client_id) == [file_b]

    for h in (a, b):
        r = h.client.post("/upload_token/batch_refresh_file",
                          data=h.nextjoy_params({"urls": f"http://cdn.example.com/{h.credentials.nextjoy.child_id}"}))
        assert r.json()["status"] == 200, r.text
    assert [x["entries"] for x in a.nextjoy_refreshes()] == [[f"http://cdn.example.com/{a.credentials.nextjoy.child_id}"]]
    assert len(server.nextjoy_refreshes()) == 2

    for h in (a, b):
        r = h.client.post("/upload3", params={"access_token": h.antelope_token(1)},
                          files={"message": (None, '{"channel_id": 1, "subject": "s", "body": {}, "attachments": []}')})
        assert r.status_code == 200, r.text
    assert [e["app_id"] for e in a.antelope_events()] == [a.credentials.antelope.app_id]
    assert len(server.antelope_events()) == 2
    with pytest.raises(ValueError, match="no api 'dropbox'"):
        a.objects("dropbox")


# -- the 123pan config helper ----------------------------------------------------------------------------


def test_pan123_config_helper(emulator):
    assert emulator.pan123_config()["slice_size"] == 104857600
    assert emulator.pan123_config(slice_size=1024)["slice_size"] == 1024
    with pytest.raises(AdminError):
        emulator.pan123_config(slice_size="big")
    assert emulator.pan123_config()["slice_size"] == 1024  # a refused change changes nothing
    assert emulator.pan123_config(reset=True)["slice_size"] == 104857600


# -- faults through the live fixture ------------------------------------------------------------------------


def test_drop_and_latency_through_emulator_server_reach_requests(emulator_server, capfd):
    jp = emulator_server.credentials.jpush
    url = emulator_server.url + "/v3/files"
    emulator_server.faults.add(api="jpush", drop=True, times=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(url, auth=(jp.app_key, jp.master_secret), timeout=10)
    emulator_server.faults.add(api="jpush", latency_ms=800, times=1)
    with pytest.raises(requests.ReadTimeout):
        requests.get(url, auth=(jp.app_key, jp.master_secret), timeout=0.3)
    assert requests.get(url, auth=(jp.app_key, jp.master_secret), timeout=10).status_code == 200
    deadline = time.monotonic() + 10
    while len(entries := emulator_server.requests(api="jpush")) < 3:  # the slow one ends after its latency
        assert time.monotonic() < deadline, entries
        time.sleep(0.05)
    assert sorted(e.get("fault", {}).get("action", "-") for e in entries) == ["-", "drop", "latency"]
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "ERROR" not in out + err, out + err


def test_credentials_follow_a_replaced_default_tenant(emulator):
    jp = emulator.credentials.jpush
    emulator.add_tenants({"jpush": [{**jp.model_dump(mode="json"), "master_secret": "a-new-secret-0001"}]})
    assert emulator.credentials.jpush.master_secret == "a-new-secret-0001"
    assert emulator.client.get("/v3/files", headers={"Authorization": emulator.jpush_auth()}).status_code == 200
