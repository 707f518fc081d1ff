"""GET /_emulator/: the dashboard (CONTRACT.md's admin table)."""


def test_dashboard_shows_apis_tenants_faults_and_recent_requests(emulator):
    emulator.client.get("/v3/files", headers={"Authorization": emulator.jpush_auth()})
    emulator.client.get("/v3/files", headers={"Authorization": "Basic bm9wZTpub3Bl"})
    emulator.faults.add(api="wechat", path="/cgi-bin/token", status=503)
    r = emulator.client.get("/_emulator/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    for api in ("pan123", "antelope", "nextjoy", "jpush", "wechat"):
        assert f"<td>{api}</td>" in page
    assert "test-pan123-client" in page and "qiniu_upload" in page
    assert "Last 2 requests" in page and page.count("<td>/v3/files</td>") == 2
    assert "/cgi-bin/token" in page and "status=503" in page
    assert "<script" not in page


def test_dashboard_escapes_what_clients_sent(emulator):
    emulator.client.get("/v3/files/<script>alert(1)</script>", headers={"Authorization": emulator.jpush_auth()})
    page = emulator.client.get("/_emulator/").text
    assert "<script>" not in page and "&lt;script&gt;" in page
