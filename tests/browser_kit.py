"""A real headless Chromium for the dashboard's browser tests and for docs/screenshots.py:
Playwright for Python driving the system's Chromium (Debian's ``chromium`` package; never a
browser Playwright downloads), with every console error, page error and failed request of a
page collected so that a test can assert there were none."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The switches keep the browser from reaching out on its own (updates, sync, field trials).
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = ("overview", "objects", "journal", "faults", "clock", "snapshots", "tenants")


def chromium_path() -> str | None:
    """``$DASHBOARD_CHROMIUM``, else /usr/bin/chromium, else a ``chromium`` on the PATH."""
    for candidate in (os.environ.get("DASHBOARD_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium executable: apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Watched:
    """A page and what went wrong on it: console errors, uncaught errors, failed requests
    and answers >= 400 (``allowed_statuses`` exempts the ones a test provokes)."""

    page: Any
    origin: str
    problems: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)

    def provoked(self, console_text: str) -> bool:
        """Chromium logs every answer >= 400 to the console; an allowed one is no problem."""
        m = re.match(r"Failed to load resource: the server responded with a status of (\d+)", console_text)
        return m is not None and int(m.group(1)) in self.allowed_statuses

    def check(self) -> None:
        assert not self.foreign, f"requests left the emulator's origin: {self.foreign}"
        assert not self.problems, "\n".join(self.problems)


def watch(context: Any, origin: str) -> Watched:
    page = context.new_page()
    w = Watched(page, origin)
    page.on("console", lambda m: m.type == "error" and not w.provoked(m.text)
            and w.problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: w.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: w.problems.append(f"request failed: {r.method} {r.url} {r.failure}"))
    page.on("request", lambda r: r.url.startswith((origin, "data:", "blob:")) or w.foreign.append(r.url))
    page.on("response", lambda r: r.status >= 400 and r.status not in w.allowed_statuses
            and w.problems.append(f"HTTP {r.status}: {r.request.method} {r.url}"))
    return w


def open_page(w: Watched, name: str) -> Any:
    """Show one dashboard page (a link click, as a user would), wait for its data; answers
    the page's section (a locator to find its controls in)."""
    page = w.page
    if not page.url.startswith(w.origin + "/_emulator/"):
        page.goto(f"{w.origin}/_emulator/#{name}")
    else:
        page.locator(f'nav a[data-page="{name}"]').click()
    page.wait_for_selector(f'section[data-page="{name}"]:not([hidden])')
    page.wait_for_load_state("networkidle")
    return page.locator(f'section[data-page="{name}"]')


def capture(w: Watched, out: Path, prefix: str = "dashboard") -> list[Path]:
    """A full-page screenshot of every dashboard page, ``<out>/<prefix>-<page>.png``."""
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    for name in PAGES:
        open_page(w, name)
        if name == "journal":  # show one request's detail too
            w.page.locator("#journal-table tbody tr").first.get_by_role("button").click()
        if name == "objects":
            w.page.locator("#objects-table tbody tr").first.get_by_role("button", name="Metadata").first.click()
        w.page.wait_for_load_state("networkidle")
        w.page.evaluate("window.scrollTo(0, 0)")  # the sticky header at the top of the shot
        path = out / f"{prefix}-{name}.png"
        w.page.screenshot(path=str(path), full_page=True)
        shots.append(path)
    return shots
