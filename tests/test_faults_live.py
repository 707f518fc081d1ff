"""Fault injection on a real socket (``python -m emulator serve``): a dropped connection and
a cut upload reach httpx and requests as connection errors, leave nothing stored (no
object, no staged blob), and leave no error in the server's log."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from fault_kit import JPUSH_KEY, NJ_TENANT, WX_APPID, Kit, blob_rows, jpush_auth
from helpers import REPO, LiveServer, start_server

DATA = bytes(range(256)) * 8192  # 2 MiB: many socket reads, so a cut lands mid-stream
LOG_NOISE = ("Exception in ASGI application", "returned without starting response",
             "returned without completing response", "Traceback", "ERROR")


def stop_and_read_log(server: LiveServer) -> str:
    server.stop()
    return server.proc.stdout.read() + server.proc.stderr.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # --log-level warning: no access lines (the pipes are read only at the end), errors still show.
    srv = start_server(tmp_path_factory.mktemp("faults-live"), "--log-level", "warning")
    try:
        yield srv
    finally:
        log = stop_and_read_log(srv)
        assert not [word for word in LOG_NOISE if word in log], log


@pytest.fixture
def kit(server: LiveServer) -> Iterator[Kit]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/_emulator/reset")
        yield Kit(http)


def test_drop_reaches_httpx_and_requests_as_connection_errors(kit, server):
    rule = kit.fault(api="jpush", drop=True, times=2)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        httpx.get(server.url + "/v3/files", headers={"Authorization": jpush_auth()})
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/v3/files", headers={"Authorization": jpush_auth()}, timeout=30)
    assert kit.rule(rule["id"])["fired"] == 2
    assert [e["status"] for e in kit.journal(api="jpush")] == [None, None]
    assert all(e["fault"] == {"id": rule["id"], "action": "drop"} for e in kit.journal(api="jpush"))
    assert kit.jpush_list().status_code == 200  # the server carries on


def test_drop_after_latency_once_the_tenant_is_known(kit, server):
    kit.fault(tenant=JPUSH_KEY, method="POST", drop=True, latency_ms=300)
    started = time.perf_counter()
    with pytest.raises(httpx.TransportError):
        httpx.post(server.url + "/v3/files/alias", headers={"Authorization": jpush_auth()},
                   files={"filename": ("a.txt", b"alice\n" * 200000)}, timeout=30)
    assert time.perf_counter() - started >= 0.3
    assert kit.evidence()["jpush"] == [] and kit.evidence()["store"]["blobs"] == 0


def test_status_above_599_over_the_socket(kit, server):
    kit.fault(api="jpush", status=614, times=2)
    assert httpx.get(server.url + "/v3/files", headers={"Authorization": jpush_auth()}).status_code == 614
    assert requests.get(server.url + "/v3/files", headers={"Authorization": jpush_auth()}).status_code == 614


def test_business_error_over_the_socket(kit, server):
    kit.fault(api="nextjoy", error=18005)
    assert kit.nj_call("get").json() == {"status": 18005, "message": "获取uploadToken失败", "data": {}}


def test_latency_over_the_socket(kit):
    kit.fault(api="jpush", latency_ms=250)
    started = time.perf_counter()
    assert kit.jpush_list().status_code == 200
    assert time.perf_counter() - started >= 0.25


def uploads(kit: Kit, server: LiveServer):
    """The three upload side channels, each as (rule match, an httpx call, a requests call)."""
    pan_url = kit.pan_presigned(DATA)
    link = kit.wx_link("live/cut.bin")
    token = kit.nj_token()
    cos_fields = Kit.cos_fields(link, "live/cut.bin")
    return {
        "pan123": (dict(api="pan123", method="PUT", path="/_pan123/s3/*"),
                   lambda: httpx.put(pan_url, content=DATA, timeout=30),
                   lambda: requests.put(pan_url, data=DATA, timeout=30)),
        "wechat": (dict(tenant=WX_APPID, path="/_cos/*"),
                   lambda: httpx.post(link["url"], data=cos_fields, files={"file": ("a.bin", DATA)}, timeout=30),
                   lambda: requests.post(link["url"], data=cos_fields, files={"file": ("a.bin", DATA)}, timeout=30)),
        "nextjoy": (dict(tenant=NJ_TENANT, path="/_qiniu/up"),
                    lambda: httpx.post(server.url + "/_qiniu/up", data={"token": token, "key": "cut"},
                                       files={"file": ("a.bin", DATA)}, timeout=30),
                    lambda: requests.post(server.url + "/_qiniu/up", data={"token": token, "key": "cut"},
                                          files={"file": ("a.bin", DATA)}, timeout=30)),
    }


@pytest.mark.parametrize("api", ["pan123", "wechat", "nextjoy"])
def test_a_cut_upload_stores_nothing(kit, server, api):
    match, with_httpx, with_requests = uploads(kit, server)[api]
    before = kit.evidence()
    rule = kit.fault(**match, cut_after=300_000, times=2)
    with pytest.raises(httpx.TransportError):
        with_httpx()
    with pytest.raises(requests.ConnectionError):
        with_requests()
    assert kit.rule(rule["id"])["fired"] == 2
    assert kit.evidence() == before
    # The same upload, unfaulted, goes through: the session was left as it was.
    assert with_requests().status_code in (200, 204)
    assert kit.evidence()["store"]["bytes"] == len(DATA)


def test_cuts_and_drops_leave_no_staged_blob_in_the_database(tmp_path: Path):
    """A server of its own, stopped at the end, so its database file can be read whole."""
    srv = start_server(tmp_path, "--log-level", "warning")
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            kit = Kit(http)
            calls = uploads(kit, srv)
            for match, with_httpx, with_requests in calls.values():
                kit.fault(**match, cut_after=100_000)
                kit.fault(**match, cut_after=10**9)  # longer than the body: cut before its end
                kit.fault(**match, drop=True)
                for call in (with_httpx, with_requests, with_httpx):
                    with pytest.raises((httpx.TransportError, requests.ConnectionError)):
                        call()
            assert kit.evidence()["store"] == {"blobs": 0, "bytes": 0}
            side_channel = [e for e in kit.journal() if e["path"].startswith(("/_pan123/", "/_cos/", "/_qiniu/"))]
            assert len(side_channel) == 9 and all(e["status"] is None for e in side_channel)
    finally:
        log = stop_and_read_log(srv)
    assert blob_rows(srv.data_dir / "emulator.db") == (0, 0)
    assert not [word for word in LOG_NOISE if word in log], log


def test_the_readme_curl_example_fails_the_third_slice_put(kit, server):
    """The README's fault example, run as printed: the third presigned PUT is dropped, once."""
    assert shutil.which("curl"), "curl is needed to run the README's example (.ci/run installs it)"
    section = (REPO / "README.md").read_text(encoding="utf-8").split("### Injected faults", 1)[1]
    example = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[0]
    out = subprocess.run(["bash", "-c", example.replace("http://127.0.0.1:8080", server.url)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("{"), out
    stored = json.loads(out.stdout)
    assert (stored["api"], stored["skip"], stored["times"], stored["action"]) == ("pan123", 2, 1, "drop")
    url = kit.pan_presigned(DATA)
    outcomes = []
    for _ in range(4):
        try:
            outcomes.append(requests.put(url, data=DATA, timeout=30).status_code)
        except requests.ConnectionError:
            outcomes.append("dropped")
    assert outcomes == [200, 200, "dropped", 200]
    faulted = [e for e in kit.journal() if e["method"] == "PUT" and "fault" in e]
    assert [(e["status"], e["fault"]) for e in faulted] == [(None, {"id": stored["id"], "action": "drop"})]
