"""The dashboard driven in a real headless Chromium (Playwright for Python, Debian's chromium as
the browser): what a user sees and clicks, checked against what clients see through the
vendor APIs. Every test also asserts that its page logged no console error, threw nothing,
had no failed request, got no unexpected HTTP error and never left the emulator's origin.

Without a Chromium executable these tests skip, except under CI (``CI`` set), where a
missing browser is a failure: .ci/run installs Debian's ``chromium``."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_kit import PAGES, Watched, browser, capture, chromium_path, open_page, watch
from snapshot_kit import DEFAULT, SECOND, Kit, add_tenants

from emulator.testing.server import LiveEmulator

TAG = "browse"
ME = "-".join([DEFAULT["jpush"]["app_key"], DEFAULT["pan123"]["client_id"], DEFAULT["wechat"]["appid"],
               DEFAULT["antelope"]["app_id"], "1001:1000"])
SENT = {  # what Kit.fill(TAG) sends through each vendor API
    "jpush": f"{TAG}-{DEFAULT['jpush']['app_key'][:12]}\nalice\n".encode(),
    "pan123": f"{TAG}-{ME}-picture".encode() * 10,
    "wechat": f"{TAG}-{ME}-cloud".encode(),
    "antelope": f"{TAG}-{ME}-clip".encode(),
    "nextjoy": f"{TAG}-{ME}-qiniu".encode(),
}


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if chromium_path() is None:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("CI is set and no Chromium executable was found: .ci/run must apt-get install -y chromium")
        pytest.skip("no Chromium executable (apt-get install -y chromium, or set DASHBOARD_CHROMIUM)")
    with browser() as b:
        yield b


@pytest.fixture
def live() -> Iterator[LiveEmulator]:
    with LiveEmulator() as emu:
        yield emu


def _context(chromium, width: int = 1280, height: int = 900):
    return chromium.new_context(viewport={"width": width, "height": height}, accept_downloads=True)


@pytest.fixture
def dash(chromium, live) -> Iterator[Watched]:
    context = _context(chromium)
    w = watch(context, live.url)
    try:
        yield w
        w.check()
    finally:
        context.close()


def _notice(w: Watched, text: str) -> None:
    w.page.wait_for_function("t => document.getElementById('notice').textContent.includes(t)", arg=text)


def test_each_api_upload_is_found_on_the_page_and_its_bytes_downloaded(dash, live):
    from playwright.sync_api import expect  # imported here: no playwright at collection

    Kit(live.client).fill(TAG)
    page = dash.page
    sec = open_page(dash, "objects")
    for api, sent in SENT.items():
        sec.get_by_label("API").select_option(api)
        # 123pan also holds the kit's cloud-disk file (browse.txt, in the trash): pick the picture.
        sec.get_by_label("Name contains").fill(f"{TAG}.jpg" if api == "pan123" else TAG)
        sec.get_by_role("button", name="Show").click()
        page.wait_for_function("api => document.getElementById('objects-count').textContent.includes('(' + api + ')')",
                               arg=api)
        rows = page.locator("#objects-table tbody tr")
        # Selecting the API already loads its objects under the previous name filter; the
        # Show click's answer may land after that one: wait (up to 5 s) for exactly one row.
        expect(rows).to_have_count(1)
        assert TAG in rows.first.inner_text()
        link = rows.first.get_by_role("link", name=re.compile(r"^Download "))
        with page.expect_download() as info:
            link.click()
        assert Path(info.value.path()).read_bytes() == sent, api
        rows.first.get_by_role("button", name=re.compile(r"^Metadata of ")).click()
        meta = page.locator("#object-meta")
        meta.wait_for()
        page.wait_for_function("md5 => document.getElementById('object-meta').textContent.includes(md5)",
                               arg=hashlib.md5(sent).hexdigest())
        if api == "jpush":  # its details: the lines the file carries
            page.wait_for_function("() => document.getElementById('object-meta').textContent.includes('\"alice\"')")
    # The 123pan cloud-disk file the kit put in the recycle bin shows as such.
    sec.get_by_label("API").select_option("pan123")
    sec.get_by_label("Name contains").fill(f"{TAG}.txt")
    sec.get_by_role("button", name="Show").click()
    page.wait_for_function("() => document.querySelectorAll('#objects-table tbody tr').length === 1 && "
                           "document.querySelector('#objects-table tbody').textContent.includes('trash')")
    # Antelope's channel events are a second view of the same API.
    sec.get_by_label("Name contains").fill(TAG)
    sec.get_by_label("API").select_option("antelope")
    sec.get_by_label("View").select_option("events")
    page.wait_for_function("() => document.getElementById('objects-count').textContent.includes('events')")
    assert TAG in page.locator("#objects-table tbody").inner_text()


def test_objects_page_through_a_large_store(dash, live):
    live.rate_limits(False)
    kit = Kit(live.client)
    for i in range(45):
        kit.nextjoy(f"many-{i:02d}.txt", f"n{i}".encode())
    page = dash.page
    sec = open_page(dash, "objects")
    sec.get_by_label("API").select_option("nextjoy")
    sec.get_by_label("Per page").select_option("20")
    page.wait_for_function("() => document.getElementById('objects-count').textContent.startsWith('1–20 of 45')")
    seen = set(page.locator("#objects-table tbody tr td:first-child").all_inner_texts())
    page.get_by_role("button", name="Next page").click()
    page.wait_for_function("() => document.getElementById('objects-count').textContent.startsWith('21–40 of 45')")
    seen |= set(page.locator("#objects-table tbody tr td:first-child").all_inner_texts())
    page.get_by_role("button", name="Next page").click()
    page.wait_for_function("() => document.getElementById('objects-count').textContent.startsWith('41–45 of 45')")
    assert page.get_by_role("button", name="Next page").is_disabled()
    seen |= set(page.locator("#objects-table tbody tr td:first-child").all_inner_texts())
    assert seen == {f"many-{i:02d}.txt" for i in range(45)}


def test_a_fault_added_on_the_page_fails_a_client_call(dash, live):
    page = dash.page
    sec = open_page(dash, "faults")
    sec.get_by_label("API").select_option("jpush")
    sec.get_by_label("Path (glob)").fill("/v3/files")
    sec.get_by_label("Action").select_option("status")
    sec.get_by_label("Value (status, business code or bytes)").fill("503")
    sec.get_by_role("button", name="Add fault rule").click()
    _notice(dash, "Added fault rule 1")
    auth = {"Authorization": live.jpush_auth()}
    assert live.client.get("/v3/files", headers=auth).status_code == 503
    (rule,) = live.faults.list()
    assert (rule["api"], rule["path"], rule["status"], rule["fired"]) == ("jpush", "/v3/files", 503, 1)
    open_page(dash, "overview")
    open_page(dash, "faults")
    row = page.locator('#faults-table tbody tr[data-id="1"]')
    # Re-opening the page shows the rows it had, then the fresh list: wait for that (up to 5 s).
    deadline = time.monotonic() + 5
    while not (re.search(r"\bfired\s*1\b|\t1\t1\t", row.inner_text())
               or row.locator("td").nth(3).inner_text() == "1"):
        assert time.monotonic() < deadline, row.inner_text()
        page.wait_for_timeout(100)
    row.get_by_role("button", name="Remove fault rule 1").click()
    _notice(dash, "Removed fault rule 1")
    assert live.client.get("/v3/files", headers=auth).status_code == 200


def test_moving_the_clock_on_the_page_expires_a_token(dash, live):
    kit = Kit(live.client)
    token = kit.wechat_token()
    env = DEFAULT["wechat"]["envs"][0]

    def upload_link() -> int:
        r = live.client.post("/tcb/uploadfile", params={"access_token": token}, json={"env": env, "path": "t.bin"})
        return r.json()["errcode"]

    assert upload_link() == 0
    page = dash.page
    open_page(dash, "clock")
    page.get_by_role("button", name="Freeze", exact=True).click()
    _notice(dash, "Clock frozen")
    assert live.clock.frozen
    before = live.clock.now()
    page.get_by_label("Advance by (seconds)").fill("7201")
    page.get_by_role("button", name="Advance").click()
    _notice(dash, "Clock advanced by 7201 s")
    assert live.clock.now() == pytest.approx(before + 7201, abs=0.01)
    assert upload_link() == 42001  # access_token expired, on the emulator clock
    page.get_by_label("Set to (UTC)").fill("2030-01-02T03:04:05")
    page.get_by_role("button", name="Set clock").click()
    _notice(dash, "Clock set to 2030-01-02 03:04:05Z")
    assert live.clock.now() == 1893553445
    page.wait_for_function("() => document.getElementById('clock-now').textContent.startsWith('2030-01-02 03:04:05')")
    page.get_by_role("button", name="Back to real time").click()
    _notice(dash, "Clock back to real time")
    assert not live.clock.frozen


def test_a_new_request_appears_without_a_reload_and_opens_in_detail(dash, live):
    page = dash.page
    sec = open_page(dash, "journal")
    page.evaluate("window.__notReloaded = true")
    assert page.locator("#journal-table tbody tr").count() == 0
    live.client.get("/v3/files", headers={"Authorization": live.jpush_auth()})
    row = page.locator("#journal-table tbody tr", has_text="GET /v3/files")
    row.wait_for(timeout=10000)
    assert page.evaluate("window.__notReloaded") is True
    row.get_by_role("button", name=re.compile(r"^Open request ")).click()
    detail = page.locator("#request-detail")
    detail.wait_for()
    text = detail.inner_text()
    assert "authorization: Basic " + DEFAULT["jpush"]["app_key"] + ":***" in text
    assert DEFAULT["jpush"]["master_secret"] not in text
    assert '"total_count": 0' in text  # the response body, as the client got it
    # An upload: its size and the MD5 of what the store kept, computed as it streamed.
    Kit(live.client).jpush(b"alice\nbob\n", "ids.txt")
    upload = page.locator("#journal-table tbody tr", has_text="POST /v3/files/alias")
    upload.wait_for(timeout=10000)
    upload.get_by_role("button", name=re.compile(r"^Open request ")).click()
    page.wait_for_function("() => document.getElementById('h-request-detail').textContent.includes('/v3/files/alias')")
    digest = hashlib.md5(b"alice\nbob\n").hexdigest()
    assert f"stored: 10 bytes, MD5 {digest}" in detail.inner_text()
    # Refused only: a bad signature shows with its reason; the good call does not.
    sec.get_by_label("Refused only").check()
    live.client.get("/v3/files", headers={"Authorization": "Basic bm9wZTpub3Bl"})
    refused = page.locator("#journal-table tbody tr")
    page.wait_for_function("() => document.querySelectorAll('#journal-table tbody tr').length === 1")
    assert "unknown app key" in refused.first.inner_text()
    sec.get_by_label("Refused only").uncheck()
    sec.get_by_label("Path (glob)").fill("/v3/*")
    sec.get_by_label("Status").fill("2xx")
    sec.get_by_role("button", name="Filter").click()
    page.wait_for_function("() => document.querySelectorAll('#journal-table tbody tr').length === 2")
    statuses = page.locator("#journal-table tbody tr td:nth-child(4)").all_inner_texts()
    assert statuses == ["200", "200"]
    # Cleared elsewhere (a test's reset): the page follows, still without a reload.
    live.clear_requests()
    page.wait_for_function("() => document.querySelectorAll('#journal-table tbody tr').length === 0")
    live.client.get("/v3/files", headers={"Authorization": live.jpush_auth()})
    page.locator("#journal-table tbody tr", has_text="GET /v3/files").wait_for(timeout=10000)
    assert page.evaluate("window.__notReloaded") is True


def test_reset_from_the_page_whole_and_per_tenant(dash, live):
    http = live.client
    add_tenants(http)
    Kit(http).fill(TAG)
    Kit(http, SECOND).fill("other")

    def totals() -> dict[str, int]:
        return {api: http.get("/_emulator/objects", params={"api": api}).json()["total"] for api in SENT}

    both = {**{api: 2 for api in SENT}, "pan123": 4}  # 123pan: a picture and a cloud-disk file each
    assert totals() == both
    page = dash.page
    sec = open_page(dash, "tenants")
    assert SECOND["jpush"]["app_key"] in page.locator("#tenants-list").inner_text()
    sec.get_by_role("combobox", name=re.compile("^Tenant")).select_option(f"jpush|{SECOND['jpush']['app_key']}")
    page.get_by_role("button", name="Reset this tenant").click()
    _notice(dash, f"Reset jpush tenant {SECOND['jpush']['app_key']}")
    assert totals() == {**both, "jpush": 1}
    page.get_by_role("button", name="Reset everything…").click()
    page.get_by_role("button", name="Yes, reset everything").click()
    _notice(dash, "Reset: every object")
    assert totals() == {api: 0 for api in SENT}
    assert live.requests() == []


def test_snapshots_limits_and_tenants_from_the_page(dash, live):
    Kit(live.client).fill(TAG)
    page = dash.page
    sec = open_page(dash, "snapshots")
    sec.get_by_label("Name").fill("before-reset")
    page.get_by_role("button", name="Save snapshot").click()
    _notice(dash, "Saved snapshot before-reset")
    with page.expect_download() as info:
        page.get_by_role("link", name="Export snapshot before-reset").click()
    assert Path(info.value.path()).read_bytes() == live.client.get("/_emulator/snapshots/before-reset/export").content
    live.reset()
    assert live.client.get("/_emulator/objects", params={"api": "wechat"}).json()["total"] == 0
    page.get_by_role("button", name="Restore snapshot before-reset").click()
    _notice(dash, "Restored snapshot before-reset")
    assert live.client.get("/_emulator/objects", params={"api": "wechat"}).json()["total"] == 1
    open_page(dash, "clock")
    page.get_by_role("button", name="Turn rate limits off").click()
    _notice(dash, "Rate limits off")
    assert live.client.get("/_emulator/limits").json() == {"enabled": False}
    page.wait_for_function("() => document.getElementById('limits-state').textContent === 'off'")
    page.get_by_role("button", name="Turn rate limits on").click()
    _notice(dash, "Rate limits on")
    assert live.client.get("/_emulator/limits").json() == {"enabled": True}
    sec = open_page(dash, "tenants")
    doc = '{"jpush": [{"app_key": "added-on-the-page", "master_secret": "s3cret-s3cret"}]}'
    sec.get_by_label("Add tenants").fill(doc)
    page.get_by_role("button", name="Add tenants").click()
    _notice(dash, "Added 1 tenant(s)")
    keys = [t["app_key"] for t in live.client.get("/_emulator/credentials").json()["jpush"]]
    assert "added-on-the-page" in keys
    page.wait_for_function("() => document.getElementById('tenants-list').textContent.includes('added-on-the-page')")
    # A refused control says why, on the page.
    sec.get_by_label("Add tenants").fill('{"nope": []}')
    dash.allowed_statuses.add(400)
    page.get_by_role("button", name="Add tenants").click()
    page.wait_for_function("() => document.getElementById('notice').className === 'error'")


# Visible controls with no accessible name: a form field needs a <label> with text (or an
# aria-label); a button or link needs its own text (or an aria-label).
UNNAMED_CONTROLS = """() => [...document.querySelectorAll('button, input, select, textarea, a[href]')]
  .filter(e => e.offsetParent !== null)
  .filter(e => {
    if ((e.getAttribute('aria-label') || '').trim()) return false;
    const field = ['INPUT', 'SELECT', 'TEXTAREA'].includes(e.tagName);
    if (field) return ![...(e.labels || [])].some(l => l.textContent.trim());
    return !e.textContent.trim();
  }).map(e => e.outerHTML.slice(0, 80))"""


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_fits_the_window_and_every_control_has_a_name(chromium, live, width):
    Kit(live.client).fill(TAG)
    live.client.get("/v3/files/" + "x" * 300, headers={"Authorization": live.jpush_auth()})
    context = _context(chromium, width, 800)
    w = watch(context, live.url)
    try:
        for name in PAGES:
            open_page(w, name)
            if name == "journal":
                w.page.locator("#journal-table tbody tr").first.get_by_role("button").click()
            overflow = w.page.evaluate("() => document.documentElement.scrollWidth"
                                       " - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} at {width}px overflows by {overflow}px"
            unnamed = w.page.evaluate(UNNAMED_CONTROLS)
            assert unnamed == [], f"{name}: controls without an accessible name: {unnamed}"
        w.check()
    finally:
        context.close()


def test_a_refused_admin_call_asks_for_the_token_once_and_retries_with_it(chromium, live):
    """What the page does when an admin token is configured: a 401 opens the token prompt,
    the token goes in sessionStorage and every later admin call carries it."""
    context = _context(chromium)
    w = watch(context, live.url)
    w.allowed_statuses.add(401)
    seen: list[str | None] = []

    def guard(route, request):
        seen.append(request.headers.get("authorization"))
        if request.headers.get("authorization") == "Bearer let-me-in":
            route.continue_()
        else:
            route.fulfill(status=401, json={"error": "admin token required"})

    try:
        w.page.route(re.compile(r".*/_emulator/(clock|limits|health)(\?.*)?$"), guard)
        w.page.goto(live.url + "/_emulator/#clock")
        dialog = w.page.get_by_role("dialog", name="Admin token")
        dialog.wait_for()
        dialog.get_by_label("Token").fill("let-me-in")
        dialog.get_by_role("button", name="Use token").click()
        w.page.wait_for_function("() => document.getElementById('limits-state').textContent === 'on'")
        assert w.page.evaluate("sessionStorage.getItem('storage-emulator.admin-token')") == "let-me-in"
        assert seen[-1] == "Bearer let-me-in" and None in seen
        w.page.get_by_role("button", name="Freeze", exact=True).click()
        _notice(w, "Clock frozen")
        assert seen[-1] == "Bearer let-me-in"
        w.check()
    finally:
        context.close()


def test_with_an_admin_token_configured_the_page_asks_for_it(chromium):
    """A real server started with --admin-token: the page loads, every admin call it makes is
    refused until the token is given in its prompt, then the controls work with it."""
    with LiveEmulator(admin_token="dash-s3cret") as guarded:
        assert httpx.get(guarded.url + "/_emulator/clock").status_code == 401  # the API itself is closed
        context = _context(chromium)
        w = watch(context, guarded.url)
        w.allowed_statuses.add(401)
        try:
            w.page.goto(guarded.url + "/_emulator/#clock")
            dialog = w.page.get_by_role("dialog", name="Admin token")
            dialog.wait_for()
            dialog.get_by_label("Token").fill("dash-s3cret")
            dialog.get_by_role("button", name="Use token").click()
            w.page.wait_for_function("() => document.getElementById('limits-state').textContent === 'on'")
            w.page.get_by_role("button", name="Freeze", exact=True).click()
            _notice(w, "Clock frozen")
            assert guarded.clock.frozen  # the plugin handle passes the token on
            w.check()
        finally:
            context.close()


def test_screenshots_of_every_page(chromium, live, tmp_path):
    """The tooling docs/screenshots.py uses to refresh docs/dashboard-*.png."""
    Kit(live.client).fill(TAG)
    context = _context(chromium)
    w = watch(context, live.url)
    try:
        shots = capture(w, tmp_path)
        assert [p.name for p in shots] == [f"dashboard-{name}.png" for name in PAGES]
        assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000 for p in shots)
        w.check()
    finally:
        context.close()
