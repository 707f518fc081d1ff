"""What shared core state costs per call (issue 16): ``Clock.now()`` and a small vendor call
(JPush file list, with its rate-limit hit, tenant lookup, clock reads and journal entry),
in process, on the in-memory database and on a database file.

    python bench/core_state_cost.py [--iterations 2000]

Run it on a checkout before and after a change (``PYTHONPATH=<checkout>``) to compare.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

if not os.environ.get("PYTHONPATH"):  # else: the checkout PYTHONPATH names (before/after a change)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.app import create_app
from emulator.settings import Settings

AUTH = "Basic " + base64.b64encode(b"testjpushappkey000000001:testjpushmastersecret001").decode()


def cpu_us(fn, n: int) -> float:
    """CPU time of this process per call (all its threads: the client's and the app's),
    which load from other processes on the machine does not inflate as it does wall time."""
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def median_us(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=2000)
    n = parser.parse_args().iterations
    with tempfile.TemporaryDirectory() as tmp:
        for label, settings in (("memory", Settings(database_url="sqlite://", rate_limits=False)),
                                ("file", Settings(data_dir=Path(tmp) / "d", rate_limits=False))):
            app = create_app(settings)
            with TestClient(app) as client:
                emu = app.state.emulator
                now = median_us(emu.clock.now, n)
                call = median_us(lambda: client.get("/v3/files", headers={"Authorization": AUTH}), n)
                cpu = cpu_us(lambda: client.get("/v3/files", headers={"Authorization": AUTH}), n)
                print(f"{label:7s} clock.now() {now:7.1f} us   GET /v3/files {call:8.1f} us wall (median of {n}),"
                      f" {cpu:8.1f} us CPU (mean)")


if __name__ == "__main__":
    main()
