#!/usr/bin/env python
"""Refresh the dashboard screenshots in docs/ (dashboard-<page>.png at 1280 px, and
dashboard-narrow-<page>.png at 390 px for the object browser and the journal), with the tooling
of the browser tests (tests/browser_kit.py: Playwright for Python driving the system's
Chromium, Debian's ``chromium`` package). Needs the test extra installed:

    pip install -e '.[test]' && python docs/screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "tests"))

from browser_kit import browser, capture, open_page, watch  # noqa: E402
from snapshot_kit import Kit  # noqa: E402

from emulator.testing.server import LiveEmulator  # noqa: E402


def populate(emu: LiveEmulator) -> None:
    """A little of everything: one object per API, a refused call, a fault that fired, a snapshot."""
    kit = Kit(emu.client)
    kit.fill("demo")
    kit.jpush(b"alice\nbob\ncarol\n", "audience.txt")
    kit.wechat(b"\x89PNG...", "avatars/42.png")
    emu.client.get("/v3/files", headers={"Authorization": "Basic bm9wZTpub3Bl"})  # refused: unknown app key
    emu.faults.add(api="jpush", path="/v3/files", status=503, times=1)
    emu.client.get("/v3/files", headers={"Authorization": emu.jpush_auth()})
    emu.snapshot("after-demo")


def main() -> int:
    with LiveEmulator() as emu, browser() as b:
        populate(emu)
        context = b.new_context(viewport={"width": 1280, "height": 800})
        w = watch(context, emu.url)
        for path in capture(w, DOCS):
            print(path.relative_to(DOCS.parent))
        w.check()
        narrow = b.new_context(viewport={"width": 390, "height": 800})
        n = watch(narrow, emu.url)
        for name in ("objects", "journal"):
            open_page(n, name)
            path = DOCS / f"dashboard-narrow-{name}.png"
            n.page.screenshot(path=str(path), full_page=False)
            print(path.relative_to(DOCS.parent))
        n.check()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
