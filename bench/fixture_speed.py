"""Median setup+teardown of the pytest plugin's ``emulator`` fixture, and of a snapshot restore.

    python bench/fixture_speed.py                 # 300 iterations each
    python bench/fixture_speed.py --iterations 500 --objects 20

Fixture: ``InProcessEmulator()`` then ``close()`` — exactly what the fixture does around a
test (fresh in-memory emulator from the template image, app from the pool, client).
Restore: an in-process emulator and a live server (file database in a temp dir) each hold
a few objects of every kind (``--objects`` JPush files and 123pan uploads); a snapshot is
saved once and restored ``--iterations`` times through the admin API, timed from the
client. Targets: fixture median ≤ 10 ms (DESIGN.md); restore "fast enough to do between tests".
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.testing import EmulatorHandle, InProcessEmulator, LiveEmulator


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def report(name: str, ms: list[float], target: float | None = None) -> None:
    ms = sorted(ms)
    p90 = ms[int(len(ms) * 0.9) - 1]
    verdict = ""
    if target is not None:
        verdict = ("  PASS" if statistics.median(ms) <= target else "  FAIL") + f" (target ≤ {target} ms)"
    print(f"{name:<44} median {statistics.median(ms):7.2f} ms   p90 {p90:7.2f} ms   n={len(ms)}{verdict}")


def fill(emu: EmulatorHandle, objects: int) -> None:
    auth = {"Authorization": emu.jpush_auth()}
    emu.rate_limits(False)
    for i in range(min(objects, 20)):  # JPush keeps at most 20 files per app
        emu.client.post(emu.url + "/v3/files/alias", headers=auth,
                        files={"filename": (f"f{i}.txt", f"alias{i}\n".encode())}).raise_for_status()
    h = emu.pan123_headers()
    for i in range(objects):
        data = f"object {i}".encode() * 100
        created = emu.client.post(emu.url + "/upload/v1/oss/file/create", headers=h, json={
            "parentFileID": "", "filename": f"o{i}.bin", "etag": hashlib.md5(data).hexdigest(),
            "size": len(data), "type": 1}).json()["data"]
        url = emu.client.post(emu.url + "/upload/v1/oss/file/get_upload_url", headers=h,
                              json={"preuploadID": created["preuploadID"], "sliceNo": 1}).json()["data"]["presignedURL"]
        emu.client.put(url, content=data).raise_for_status()
        emu.client.post(emu.url + "/upload/v1/oss/file/upload_complete", headers=h,
                        json={"preuploadID": created["preuploadID"]}).raise_for_status()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--objects", type=int, default=10)
    args = ap.parse_args()

    InProcessEmulator().close()  # warm: template image and app built once per process
    report("emulator fixture: setup + teardown", timed(lambda: InProcessEmulator().close(), args.iterations), 10.0)

    with InProcessEmulator() as emu:
        fill(emu, args.objects)
        emu.snapshot("bench")
        restore_ms = timed(lambda: emu.restore("bench"), args.iterations)
        report(f"snapshot restore, in process ({args.objects} objects)", restore_ms)

    with (
        tempfile.TemporaryDirectory() as tmp,
        LiveEmulator(database_url=f"sqlite:///{tmp}/emulator.db", data_dir=tmp) as live,
    ):
        fill(live, args.objects)
        live.snapshot("bench")
        report(f"snapshot restore, live file db ({args.objects} objects)",
               timed(lambda: live.restore("bench"), args.iterations))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
